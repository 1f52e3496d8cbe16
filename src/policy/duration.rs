//! Placeholder (replaced by the policy branch).
use std::time::Duration;
#[derive(Debug, thiserror::Error)]
#[error("invalid duration")]
pub struct DurationError;
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| DurationError)?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(DurationError),
    };
    if n == 0 || n > 24 * 3600 {
        return Err(DurationError);
    }
    n.checked_mul(mult)
        .filter(|v| *v <= 24 * 3600)
        .map(Duration::from_secs)
        .ok_or(DurationError)
}
pub fn format(d: Duration) -> String {
    format!("{}s", d.as_secs())
}
