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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("AKIA-very-secret");
        assert_eq!(format!("{s:?}"), "\"**redacted**\"");
        assert_eq!(format!("{s}"), "**redacted**");
        assert_eq!(s.expose(), "AKIA-very-secret");
    }
}
