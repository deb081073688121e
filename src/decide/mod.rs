//! Decision: turns the findings of the checks (each a policy violation with
//! its origin) into allow / deny / would-deny according to the mode.

pub mod cooldown;
pub mod mirror;
pub mod registries;
pub mod threats;
pub mod urls;

use crate::policy::Mode;
use crate::record::{Action, DecisionRef, Reason};

/// The outcome of the policy checks for one invocation.
#[derive(Clone, Debug)]
pub struct Decision {
    pub action: Action,
    pub reasons: Vec<Reason>,
    /// The mirror pkgward forces, if the policy names one.
    pub forced: Option<mirror::Forced>,
    /// The release-age cooldown the tool is made to apply.
    pub cooldown: Option<cooldown::Applied>,
}

impl Decision {
    pub fn record(&self) -> DecisionRef {
        DecisionRef {
            action: self.action,
            reasons: self.reasons.clone(),
            forced: self.forced.clone(),
            cooldown: self.cooldown.clone(),
        }
    }
}

/// Decides from the violations found: none → allow; otherwise deny in enforce
/// mode, would-deny in audit mode, allow (with the reasons kept) when off.
pub fn decide(mode: Mode, violations: Vec<Reason>) -> Decision {
    let action = match (violations.is_empty(), mode) {
        (true, _) | (false, Mode::Off) => Action::Allow,
        (false, Mode::Audit) => Action::WouldDeny,
        (false, Mode::Enforce) => Action::Deny,
    };
    Decision {
        action,
        reasons: violations,
        forced: None,
        cooldown: None,
    }
}

/// Adds the violations of a later check to a decision.
pub fn add(d: &mut Decision, mode: Mode, more: Vec<Reason>) {
    if more.is_empty() {
        return;
    }
    d.reasons.extend(more);
    d.action = decide(
        mode,
        vec![Reason {
            code: String::new(),
            message: String::new(),
            origin: None,
        }],
    )
    .action;
}

/// Adds the violations of another check to a decision, re-deciding its
/// action for the mode (a forced mirror is kept).
pub fn merge_violations(d: Decision, mode: Mode, more: Vec<Reason>) -> Decision {
    if more.is_empty() {
        return d;
    }
    let mut reasons = d.reasons;
    reasons.extend(more);
    let mut merged = decide(mode, reasons);
    merged.forced = d.forced;
    merged.cooldown = d.cooldown;
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Vec<Reason> {
        vec![Reason {
            code: "unapproved-registry".into(),
            message: "x".into(),
            origin: None,
        }]
    }

    #[test]
    fn modes() {
        assert_eq!(decide(Mode::Enforce, vec![]).action, Action::Allow);
        assert_eq!(decide(Mode::Enforce, v()).action, Action::Deny);
        assert_eq!(decide(Mode::Audit, v()).action, Action::WouldDeny);
        assert_eq!(decide(Mode::Off, v()).action, Action::Allow);
    }
}
