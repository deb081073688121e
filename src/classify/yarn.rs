//! yarn (1 and 2+): adapter not written yet. It lists no sources, so only the
//! command's verb is classified; registry checks for these tools come with
//! their adapter.

use super::source::Source;
use super::{Plan, Request, Verb};

pub(super) fn verb(args: &[String]) -> Verb {
    super::npm::verb("yarn", args)
}

pub(super) fn sources(_req: &Request<'_>, _verb: Verb) -> Vec<Source> {
    Vec::new()
}

pub(super) fn force(
    args: &[String],
    _mirror: &str,
    _sources: &[Source],
    _approved: &mut dyn FnMut(&Source) -> bool,
) -> Option<Plan> {
    let _ = args;
    None
}
