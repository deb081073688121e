//! apt, apt-get, yum, dnf: adapter not written yet. It lists no sources, so only the
//! command's verb is classified; registry checks for these tools come with
//! their adapter.

use super::source::Source;
use super::{Plan, Request, Verb};

pub(super) fn verb(tool: &str, args: &[String]) -> Verb {
    let _ = tool;
    super::generic_verb(args)
}

pub(super) fn sources(_req: &Request<'_>, _verb: Verb) -> Vec<Source> {
    Vec::new()
}

pub(super) fn force(
    tool: &str,
    args: &[String],
    _mirror: &str,
    _sources: &[Source],
    _approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = tool;
    let _ = args;
    None
}
