//! A TOML error without the TOML: where the problem is and why, never the text.
//!
//! The parser's own error (`toml::de::Error`) keeps a copy of the whole input, which its
//! `Debug` prints, and its `Display` prints the offending line: either can show an `api_key`.
//! Whoever calls the parser turns its error into a [`TomlProblem`] as soon as it is returned.

/// The keys whose values are secrets (compared without case: a misspelt `API_KEY` line holds
/// a key too).
const SECRET_KEYS: [&str; 1] = ["api_key"];

/// Why a TOML file (a config file, a `merchant.toml`) could not be read, and where.
#[derive(Debug, thiserror::Error)]
#[error("{place}{reason}")]
pub(crate) struct TomlProblem {
    /// `line L, column C: ` (from 1, the column in characters), or nothing when the parser
    /// gave no position.
    place: String,
    /// The parser's reason, or a fixed text when the problem is in a secret's value (the
    /// reason may quote the value, e.g. "invalid type: integer `123…`").
    reason: String,
}

impl TomlProblem {
    /// Takes only the position and the reason of `error`, a problem in `text`.
    pub(crate) fn new(text: &str, error: &toml::de::Error) -> Self {
        let Some(start) = error.span().map(|span| span.start) else {
            return Self {
                place: String::new(),
                reason: error.message().to_owned(),
            };
        };
        // A span off a character boundary (never expected) counts from the text's end.
        let before = text.get(..start).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_no = before.matches('\n').count() + 1;
        let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
        let line = text
            .get(line_start..)
            .and_then(|rest| rest.lines().next())
            .unwrap_or("");
        let reason = match secret_at(before, line) {
            Some(name) => format!(
                "invalid value of `{name}` (it must be a quoted string); the parser's reason is not shown, as it may quote the value"
            ),
            None => error.message().to_owned(),
        };
        Self {
            place: format!("line {line_no}, column {column}: "),
            reason,
        }
    }
}

/// The secret key whose value the problem may be in: one named on the problem's `line`, or
/// the last one in `before` (the text up to the problem) if its value spans lines (a
/// multi-line string or an array).
fn secret_at(before: &str, line: &str) -> Option<&'static str> {
    let lower_line = line.to_ascii_lowercase();
    if let Some(name) = SECRET_KEYS.iter().find(|name| lower_line.contains(**name)) {
        return Some(name);
    }
    let lower = before.to_ascii_lowercase();
    SECRET_KEYS.iter().copied().find(|name| {
        lower.rfind(name).is_some_and(|at| {
            let after_key = lower.get(at + name.len()..).unwrap_or("");
            // Past the closing quote of a quoted key, to the value.
            let Some(value) = after_key
                .trim_start_matches(['"', '\''])
                .trim_start()
                .strip_prefix('=')
            else {
                return false;
            };
            let value = value.trim_start();
            value.starts_with("\"\"\"") || value.starts_with("'''") || value.starts_with('[')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> TomlProblem {
        let error = toml::from_str::<toml::Table>(text).unwrap_err();
        TomlProblem::new(text, &error)
    }

    #[test]
    fn a_problem_away_from_secrets_keeps_the_parser_reason_and_place() {
        let p = problem("a = 1\nb = = 2\n");

        assert!(p.to_string().starts_with("line 2, column "), "{p}");
        assert!(!p.reason.contains("api_key"));
        assert!(!p.reason.is_empty());
    }

    #[test]
    fn a_problem_on_a_secret_line_hides_the_reason() {
        let p = problem("x = 1\nAPI_KEY = 3fA9kQ7xLm2pR8sT\n");

        assert!(p.to_string().starts_with("line 2, column "), "{p}");
        assert!(!format!("{p} {p:?}").contains("3fA9kQ"));
    }

    #[test]
    fn a_problem_after_a_secret_of_one_line_keeps_the_reason() {
        let p = problem("api_key = \"3fA9kQ7xLm2pR8sT\"\n[t]\nb = = 2\n");

        assert!(p.to_string().starts_with("line 3, column "), "{p}");
        assert!(!p.reason.contains("api_key"), "{p}");
    }

    #[test]
    fn a_problem_inside_a_secrets_multi_line_value_hides_the_reason() {
        let p = problem("api_key = \"\"\"\n3fA9kQ7x\\qLm2pR8sT\"\"\"\nz = 1\n");

        assert!(p.to_string().starts_with("line 2, column "), "{p}");
        assert!(p.reason.contains("api_key"), "{p}");
    }
}
