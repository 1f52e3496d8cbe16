//! `*` globs for claim patterns, compiled to anchored regular expressions.

/// A glob where `*` matches any run of characters (including `/`) and everything else is
/// literal. Always anchored: `acme/*` never matches `evil/acme/x`.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    regex: regex::Regex,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        let body: Vec<String> = pattern.split('*').map(regex::escape).collect();
        let regex = regex::Regex::new(&format!("^{}$", body.join(".*")))?;
        Ok(Self {
            pattern: pattern.to_string(),
            regex,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}
