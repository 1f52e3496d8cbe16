//! Resolving the request: the event's facts plus the action inputs, with the label mapped to
//! its scope.
//!
//! Precedence (contract §2, §3):
//!
//! - **scope**: input `scope`, else the event's explicit scope (the `Prod-Access-Scope`
//!   trailer, or the dispatch form's `scope`), else the label's scope (`request.labels`).
//!   SECURITY: precedence only picks the value that is reported. When two sources name
//!   *different* scopes the request is ambiguous and denied (`request-unambiguous`), naming
//!   every value: an approver who saw `Prod-Access-Scope: db-read` in the commit did not
//!   approve the `db-write` a workflow input asks for, and the other way round.
//! - **reason**: the event's reason (trailer, PR body line, dispatch form), else input
//!   `reason`. An input never silently replaces an event reason: for a dispatch the event
//!   *is* the inputs (a workflow passes `reason: ${{ inputs.reason }}`, so both agree), and
//!   for a trailer the reason is what the approvers saw in the commit. Two different
//!   non-blank reasons are ambiguous and deny.
//! - **pull request**: the event's PR, else input `pull-request` on a dispatch. An input that
//!   names another PR than the event's, or a PR on a push (whose PR is the one that carried
//!   the commit, found through the API), is ambiguous and denies.
//!
//! Blank inputs (`INPUT_SCOPE=""`, what the runner sets for an unset input) count as absent.

use std::time::Duration;

use serde::Serialize;

use crate::event::{EventRequest, Shape};
use crate::policy::Policy;

/// Where the request's scope came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeSource {
    /// The action input `scope`.
    Input,
    /// The event: the scope trailer (trailer shape) or the dispatch form's `scope`.
    Event,
    /// The label, through `request.labels`.
    Label,
}

/// Where the request's reason came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonSource {
    /// The event: the reason trailer, the PR body line, or the dispatch form's `reason`.
    Event,
    /// The action input `reason`.
    Input,
}

/// The request after inputs are applied and the label is mapped to its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub shape: Shape,
    /// `push`, `pull_request`, ... as the caller names it (the decision compares it with the
    /// token's `event_name`).
    pub event_name: String,
    pub reason: Option<String>,
    /// The scope asked for: input `scope`, else the scope trailer, else the label's scope.
    pub scope: Option<String>,
    pub label: Option<String>,
    /// The PR whose approvals count (event, or input `pull-request` on a dispatch).
    pub pr_number: Option<u64>,
    /// The head sha the event names.
    pub head_sha: Option<String>,
    /// The requested lifetime (input `ttl`), already parsed.
    pub ttl: Option<Duration>,
    /// Request keys given more than once or by sources that disagree: `(key, values)`.
    pub ambiguous: Vec<(String, Vec<String>)>,
    /// Where `scope` came from (`None` when there is no scope).
    pub scope_source: Option<ScopeSource>,
    /// Where `reason` came from (`None` when there is no reason).
    pub reason_source: Option<ReasonSource>,
}

/// Action inputs that shape the request (each from its flag or `INPUT_<NAME>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInputs {
    pub scope: Option<String>,
    pub reason: Option<String>,
    pub ttl: Option<Duration>,
    pub pull_request: Option<u64>,
}

/// `None` for an absent or blank value; the value trimmed otherwise.
fn nonblank(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Applies the inputs and the policy's label map to the event's request.
///
/// Never fails: every conflict is recorded in [`Request::ambiguous`] and denied by the
/// decision, which names every value (a conflict is the requester's to fix, not a
/// configuration error).
pub fn resolve_request(
    event: EventRequest,
    event_name: &str,
    inputs: &RequestInputs,
    policy: &Policy,
) -> Request {
    let EventRequest {
        shape,
        reason: event_reason,
        scope: event_scope,
        label,
        pr_number: event_pr,
        head_sha,
        sender: _,
        mut ambiguous,
        // SECURITY: a request whose head commit was not read yet carries no reason or scope
        // from the trailer, so it is denied (`reason-present`) unless the caller parsed the
        // event again with the head commit's message, as `grant` and `check` do.
        head_commit_pending: _,
    } = event;

    // Scope: every source that names one, in precedence order.
    let input_scope = nonblank(inputs.scope.as_deref());
    let event_scope = nonblank(event_scope.as_deref());
    let label_scope = label
        .as_ref()
        .and_then(|l| policy.request.labels.get(l))
        .cloned();
    let mut candidates: Vec<(ScopeSource, String, String)> = Vec::new();
    if let Some(s) = input_scope {
        candidates.push((ScopeSource::Input, "input `scope`".into(), s));
    }
    if let Some(s) = event_scope {
        let what = match shape {
            Shape::Trailer => format!("trailer `{}`", policy.request.scope_trailer),
            Shape::Dispatch => "dispatch input `scope`".into(),
            Shape::Label => "event scope".into(),
        };
        candidates.push((ScopeSource::Event, what, s));
    }
    if let (Some(s), Some(l)) = (label_scope, label.as_ref()) {
        candidates.push((ScopeSource::Label, format!("label `{l}`"), s));
    }
    let (scope_source, scope) = match candidates.first() {
        Some((src, _, value)) => (Some(*src), Some(value.clone())),
        None => (None, None),
    };
    if candidates.iter().any(|(_, _, v)| Some(v) != scope.as_ref()) {
        // SECURITY: two sources name different scopes; deny rather than pick one.
        ambiguous.push((
            "scope".into(),
            candidates
                .iter()
                .map(|(_, what, v)| format!("{v} ({what})"))
                .collect(),
        ));
    }

    // Reason: the event's, else the input's; two different reasons are ambiguous.
    let input_reason = nonblank(inputs.reason.as_deref());
    let event_reason_blank = event_reason.as_deref().is_none_or(|r| r.trim().is_empty());
    let (reason, reason_source) = match (event_reason, input_reason) {
        (Some(ev), Some(inp)) if !event_reason_blank => {
            if ev.trim() != inp {
                ambiguous.push((
                    "reason".into(),
                    vec![format!("{ev} (event)"), format!("{inp} (input `reason`)")],
                ));
            }
            (Some(ev), Some(ReasonSource::Event))
        }
        (_, Some(inp)) => (Some(inp), Some(ReasonSource::Input)),
        // A blank event reason is kept as is: `reason-present` reports it.
        (Some(ev), None) => (Some(ev), Some(ReasonSource::Event)),
        (None, None) => (None, None),
    };

    // Pull request: the event's, else the input on a dispatch.
    let pr_number = match (shape, event_pr, inputs.pull_request) {
        (_, Some(ev), Some(inp)) if ev != inp => {
            ambiguous.push((
                "pull-request".into(),
                vec![
                    format!("#{ev} (event)"),
                    format!("#{inp} (input `pull-request`)"),
                ],
            ));
            Some(ev)
        }
        (_, Some(ev), _) => Some(ev),
        (Shape::Dispatch, None, inp) => inp,
        (_, None, Some(inp)) => {
            // SECURITY: a push's PR is the one that carried the commit, read from the API;
            // an input cannot choose another one.
            ambiguous.push((
                "pull-request".into(),
                vec![format!(
                    "#{inp} (input `pull-request`, only meaningful on workflow_dispatch)"
                )],
            ));
            None
        }
        (_, None, None) => None,
    };

    Request {
        shape,
        event_name: event_name.to_string(),
        reason,
        scope,
        label,
        pr_number,
        head_sha,
        ttl: inputs.ttl,
        ambiguous,
        scope_source,
        reason_source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::rules::test_support::policy;

    fn event(shape: Shape) -> EventRequest {
        EventRequest::new(shape)
    }

    fn label_event() -> EventRequest {
        EventRequest {
            label: Some("prod-access".into()),
            pr_number: Some(7),
            reason: Some("INC-1 read the orders table".into()),
            ..event(Shape::Label)
        }
    }

    #[test]
    fn scope_precedence_and_sources() {
        let p = policy();
        // (event, inputs, expected scope, expected source, ambiguous?)
        type Case = (
            EventRequest,
            RequestInputs,
            Option<&'static str>,
            Option<ScopeSource>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                label_event(),
                RequestInputs::default(),
                Some("db-read"),
                Some(ScopeSource::Label),
                false,
            ),
            (
                label_event(),
                RequestInputs {
                    scope: Some("db-read".into()),
                    ..Default::default()
                },
                Some("db-read"),
                Some(ScopeSource::Input),
                false,
            ),
            (
                // input differs from the label's scope: ambiguous
                label_event(),
                RequestInputs {
                    scope: Some("db-write".into()),
                    ..Default::default()
                },
                Some("db-write"),
                Some(ScopeSource::Input),
                true,
            ),
            (
                EventRequest {
                    scope: Some("db-write".into()),
                    ..event(Shape::Trailer)
                },
                RequestInputs::default(),
                Some("db-write"),
                Some(ScopeSource::Event),
                false,
            ),
            (
                // input differs from the trailer's scope: ambiguous
                EventRequest {
                    scope: Some("db-write".into()),
                    ..event(Shape::Trailer)
                },
                RequestInputs {
                    scope: Some("db-read".into()),
                    ..Default::default()
                },
                Some("db-read"),
                Some(ScopeSource::Input),
                true,
            ),
            (
                // blank input is absent
                event(Shape::Trailer),
                RequestInputs {
                    scope: Some("  ".into()),
                    ..Default::default()
                },
                None,
                None,
                false,
            ),
            (
                // a label the policy does not map gives no scope
                EventRequest {
                    label: Some("unmapped".into()),
                    ..event(Shape::Label)
                },
                RequestInputs::default(),
                None,
                None,
                false,
            ),
        ];
        for (i, (ev, inputs, scope, source, ambiguous)) in cases.into_iter().enumerate() {
            let r = resolve_request(ev, "pull_request_target", &inputs, &p);
            assert_eq!(r.scope.as_deref(), scope, "case {i}");
            assert_eq!(r.scope_source, source, "case {i}");
            assert_eq!(
                !r.ambiguous.is_empty(),
                ambiguous,
                "case {i}: {:?}",
                r.ambiguous
            );
        }
    }

    #[test]
    fn conflicting_scope_names_every_value() {
        let r = resolve_request(
            label_event(),
            "pull_request_target",
            &RequestInputs {
                scope: Some("db-write".into()),
                ..Default::default()
            },
            &policy(),
        );
        assert_eq!(
            r.ambiguous,
            vec![(
                "scope".to_string(),
                vec![
                    "db-write (input `scope`)".to_string(),
                    "db-read (label `prod-access`)".to_string()
                ]
            )]
        );
    }

    #[test]
    fn reason_precedence() {
        let p = policy();
        // (event reason, input reason, expected, source, ambiguous?)
        let cases = [
            (
                Some("INC-1"),
                None,
                Some("INC-1"),
                Some(ReasonSource::Event),
                false,
            ),
            (
                None,
                Some("INC-2"),
                Some("INC-2"),
                Some(ReasonSource::Input),
                false,
            ),
            (
                Some("  "),
                Some("INC-2"),
                Some("INC-2"),
                Some(ReasonSource::Input),
                false,
            ),
            (
                Some("INC-1"),
                Some("INC-1"),
                Some("INC-1"),
                Some(ReasonSource::Event),
                false,
            ),
            (
                Some("INC-1"),
                Some("INC-2"),
                Some("INC-1"),
                Some(ReasonSource::Event),
                true,
            ),
            (Some(""), None, Some(""), Some(ReasonSource::Event), false),
            (None, Some(" "), None, None, false),
        ];
        for (i, (ev, inp, want, src, amb)) in cases.into_iter().enumerate() {
            let e = EventRequest {
                reason: ev.map(str::to_string),
                ..event(Shape::Dispatch)
            };
            let inputs = RequestInputs {
                reason: inp.map(str::to_string),
                ..Default::default()
            };
            let r = resolve_request(e, "workflow_dispatch", &inputs, &p);
            assert_eq!(r.reason.as_deref(), want, "case {i}");
            assert_eq!(r.reason_source, src, "case {i}");
            assert_eq!(!r.ambiguous.is_empty(), amb, "case {i}");
        }
    }

    #[test]
    fn pull_request_input() {
        let p = policy();
        let with_pr = |n| RequestInputs {
            pull_request: Some(n),
            ..Default::default()
        };
        // dispatch: the input names the PR
        let r = resolve_request(event(Shape::Dispatch), "workflow_dispatch", &with_pr(9), &p);
        assert_eq!((r.pr_number, r.ambiguous.len()), (Some(9), 0));
        // dispatch without input: no PR (deployment approvals)
        let r = resolve_request(
            event(Shape::Dispatch),
            "workflow_dispatch",
            &RequestInputs::default(),
            &p,
        );
        assert_eq!((r.pr_number, r.ambiguous.len()), (None, 0));
        // label event with the same PR as input: fine; another PR: ambiguous
        let r = resolve_request(label_event(), "pull_request_target", &with_pr(7), &p);
        assert_eq!((r.pr_number, r.ambiguous.len()), (Some(7), 0));
        let r = resolve_request(label_event(), "pull_request_target", &with_pr(8), &p);
        assert_eq!((r.pr_number, r.ambiguous.len()), (Some(7), 1));
        // push: an input cannot choose the PR
        let r = resolve_request(event(Shape::Trailer), "push", &with_pr(8), &p);
        assert_eq!((r.pr_number, r.ambiguous.len()), (None, 1));
    }

    #[test]
    fn keeps_event_ambiguity_and_ttl() {
        let e = EventRequest {
            ambiguous: vec![("Prod-Access".into(), vec!["a".into(), "b".into()])],
            ..event(Shape::Trailer)
        };
        let inputs = RequestInputs {
            ttl: Some(Duration::from_secs(600)),
            ..Default::default()
        };
        let r = resolve_request(e, "push", &inputs, &policy());
        assert_eq!(r.ambiguous.len(), 1);
        assert_eq!(r.ttl, Some(Duration::from_secs(600)));
        assert_eq!(r.event_name, "push");
    }
}
