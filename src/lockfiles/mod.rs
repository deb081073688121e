//! Lockfile readers (being written).
