//! A string that must never reach a log, an evidence record or a `Debug` dump.
//!
//! The only way to read the value is [`Secret::expose`], so every place that
//! hands a secret to a client library is easy to find with `grep expose`.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A secret value (an access key, a token). `Debug` and `Display` print
/// `"**redacted**"`; serialization is deliberately not implemented.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from a file or the environment.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for handing to a client library. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"**redacted**\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Whether `s` looks like a credential rather than a name or a path: a SAS
/// query (`sig=`, `sv=…&`), a JWT (`eyJ…` in three dotted parts), PEM, or a
/// long base64/hex run with upper and lower case letters and digits.
/// Settings that name where a secret lives must never hold the secret, and
/// no message repeats a value like this.
pub fn looks_like_credential(s: &str) -> bool {
    let s = s.trim().trim_start_matches('?');
    if s.contains("sig=") || (s.contains("sv=") && s.contains('&')) || s.contains("-----BEGIN") {
        return true;
    }
    if s.starts_with("eyJ") && s.split('.').count() == 3 && s.len() > 30 {
        return true;
    }
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-');
    s.len() >= 32
        && s.chars().all(b64)
        && s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars().any(|c| c.is_ascii_lowercase())
        && s.chars().any(|c| c.is_ascii_digit())
}

/// `text` with every word that [looks like a credential](looks_like_credential)
/// replaced by `[a value that looks like a credential, not shown]`: for
/// messages that quote what was written (validation problems, errors naming
/// a file or variable), so that a token pasted into the wrong setting is
/// never repeated — on a terminal, in a log, in the evidence chain.
pub fn scrub(text: &str) -> String {
    const SHOWN: &str = "[a value that looks like a credential, not shown]";
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let core = word
            .trim_matches(|c: char| matches!(c, '`' | '"' | '\'' | ',' | ';' | ':' | '(' | ')'));
        if !core.is_empty() && looks_like_credential(core) {
            out.push_str(&word.replace(core, SHOWN));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_recognised_and_never_repeated() {
        let sas = "sv=2024-11-04&ss=b&srt=sco&sp=rl&se=2027-01-01T00:00:00Z&sig=AbCdEf0123456789%2BxYz%3D";
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVlLWhlcmU";
        let aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        for c in [sas, jwt, aws, "-----BEGIN PRIVATE KEY-----"] {
            assert!(looks_like_credential(c), "{c}");
            let said = scrub(&format!(
                "cannot read the SAS token from `{c}`: No such file"
            ));
            assert!(!said.contains(c), "{said}");
            assert!(
                said.contains("not shown") && said.ends_with("No such file"),
                "{said}"
            );
        }
        for name in [
            "/etc/restoreproof/azure-sas.txt",
            "RP_AZURE_SAS",
            "sources.prod.auth.sas_file",
            "restoreproof-backups-2026",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(!looks_like_credential(name), "{name}");
            assert_eq!(scrub(&format!("see `{name}`")), format!("see `{name}`"));
        }
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("AKIA-very-secret");
        assert_eq!(format!("{s:?}"), "\"**redacted**\"");
        assert_eq!(format!("{s}"), "**redacted**");
        assert_eq!(s.expose(), "AKIA-very-secret");
    }
}
