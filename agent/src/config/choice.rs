//! Settings that take one of a fixed set of names (`transport = "tls"`,
//! `auth.method = "sas"`): typed enums, read so that a name the agent does
//! not know is reported beside every other problem of the file instead of
//! stopping the parse at it.

use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer};

/// An enum whose variants are written as names in the config.
pub trait Choices: DeserializeOwned + Copy {
    /// What a value is, for messages: "a transport".
    const NOUN: &'static str;
    /// Every name, in the order messages suggest them.
    const NAMES: &'static [&'static str];
}

/// A setting as written: a known name, or the text that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<T> {
    Known(T),
    Unknown(String),
}

impl<'de, T: Choices> Deserialize<'de> for Choice<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let de: StrDeserializer<'_, ValueError> = s.as_str().into_deserializer();
        Ok(match T::deserialize(de) {
            Ok(v) => Choice::Known(v),
            Err(_) => Choice::Unknown(s),
        })
    }
}

impl<T: Choices> Choice<T> {
    /// The value, or a problem at `at` naming the accepted names.
    pub fn get(&self, at: &str, problem: &mut dyn FnMut(String, &str)) -> Option<T> {
        match self {
            Choice::Known(v) => Some(*v),
            Choice::Unknown(s) => {
                problem(at.to_owned(), &unknown::<T>(s));
                None
            }
        }
    }
}

/// `value` (or `default` when absent), or a problem at `at`.
pub fn choose<T: Choices>(
    value: Option<&Choice<T>>,
    default: T,
    at: &str,
    problem: &mut dyn FnMut(String, &str),
) -> Option<T> {
    value.map_or(Some(default), |c| c.get(at, problem))
}

/// "`x` is not a transport; write `tcp`, `tls` or `udp`". The value is
/// shown only when it looks like a name: a secret pasted into the wrong key
/// must not reach a log.
fn unknown<T: Choices>(s: &str) -> String {
    let shown = if !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'))
    {
        format!("`{s}`")
    } else {
        "this value".into()
    };
    format!("{shown} is not {}; write {}", T::NOUN, one_of(T::NAMES))
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
pub fn one_of(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match q.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Colour {
        Red,
        DarkBlue,
    }

    impl Choices for Colour {
        const NOUN: &'static str = "a colour";
        const NAMES: &'static [&'static str] = &["red", "dark_blue"];
    }

    #[derive(Deserialize)]
    struct Raw {
        c: Choice<Colour>,
    }

    fn problems(toml: &str) -> (Option<Colour>, Vec<String>) {
        let raw: Raw = toml::from_str(toml).expect("toml");
        let mut out = Vec::new();
        let v = raw.c.get("x.c", &mut |p, m| out.push(format!("{p}: {m}")));
        (v, out)
    }

    #[test]
    fn known_names_parse_and_unknown_ones_become_problems() {
        assert_eq!(
            problems("c = \"dark_blue\""),
            (Some(Colour::DarkBlue), vec![])
        );
        assert_eq!(
            problems("c = \"green\"").1,
            ["x.c: `green` is not a colour; write `red` or `dark_blue`"]
        );
        // Something that does not look like a name is not repeated.
        assert_eq!(
            problems("c = \"AKIA secret/with spaces\"").1,
            ["x.c: this value is not a colour; write `red` or `dark_blue`"]
        );
        // A value of the wrong type is serde's error, as for any setting.
        assert!(toml::from_str::<Raw>("c = 3").is_err());
    }

    #[test]
    fn one_of_reads_as_a_list() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
