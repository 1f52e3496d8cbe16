//! Commit-message trailers, parsed with git's own rules (`git interpret-trailers --parse`).

/// One `key: value` trailer, as git prints it with `--parse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub key: String,
    pub value: String,
}

/// Parses the trailers of a commit message exactly as `git interpret-trailers --parse` does.
pub fn parse(message: &str) -> Vec<Trailer> {
    // Placeholder until the git-rules parser lands (issue 2, trailers).
    let _ = message;
    Vec::new()
}
