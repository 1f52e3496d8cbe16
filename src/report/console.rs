//! The decision on the console: the headline and every requirement, met or unmet.

use crate::decide::Decision;
use crate::emit::Console;
use crate::emit::escape::log_inline;
use crate::policy::duration;

/// The decision as text: a headline, then every requirement with `[x]`/`[ ]`; each unmet
/// requirement again on stderr with the docs anchor.
pub fn print_decision(console: &mut Console, decision: &Decision, granted_word: &str) {
    let verdict = if decision.granted() {
        granted_word
    } else {
        "DENIED"
    };
    console.say(&format!(
        "decision: {verdict}; scope {}; requester {}; ttl {}{}",
        decision
            .scope
            .as_deref()
            .map(|s| log_inline(s, 64))
            .unwrap_or_else(|| "-".into()),
        log_inline(&decision.requester.login, 64),
        decision
            .ttl
            .map(duration::format)
            .unwrap_or_else(|| "-".into()),
        if decision.break_glass {
            "; BREAK-GLASS"
        } else {
            ""
        },
    ));
    for r in &decision.requirements {
        console.say(&format!(
            "  [{}] {}: {}",
            if r.met { "x" } else { " " },
            r.id,
            log_inline(&r.detail, 500)
        ));
    }
    if !decision.approvers.is_empty() {
        let who: Vec<String> = decision
            .approvers
            .iter()
            .map(|a| match &a.sha {
                Some(sha) => format!(
                    "{} on {}",
                    log_inline(&a.user.login, 64),
                    crate::text::short_sha(sha)
                ),
                None => log_inline(&a.user.login, 64),
            })
            .collect();
        console.say(&format!("approvers: {}", who.join(", ")));
    }
    for r in decision.unmet() {
        console.error(&format!(
            "denied: {}: {} (see {}#{})",
            r.id,
            log_inline(&r.detail, 500),
            crate::report::REQUIREMENTS_DOC,
            r.id
        ));
    }
}
