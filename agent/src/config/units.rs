//! Values operators write as text: byte sizes (`10GiB`), ages (`90d`) and sample
//! sizes (`50`, `2%`, `10GiB`). Each parses with `FromStr` and an error that shows
//! an accepted form, so the same parser serves the config file and the CLI.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A number of bytes, written as `1048576`, `512KiB`, `10GiB`, `1.5TB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const UNITS: &[(&str, u64)] = &[
    ("tib", 1 << 40),
    ("gib", 1 << 30),
    ("mib", 1 << 20),
    ("kib", 1 << 10),
    ("tb", 1_000_000_000_000),
    ("gb", 1_000_000_000),
    ("mb", 1_000_000),
    ("kb", 1_000),
    ("b", 1),
];

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let (number, mult) = UNITS
            .iter()
            .find_map(|(u, m)| lower.strip_suffix(u).map(|n| (n.trim(), *m)))
            .unwrap_or((lower.as_str(), 1));
        let bad = || {
            format!("`{s}` is not a byte size; write e.g. `1048576`, `512KiB`, `10GiB` or `1.5TB`")
        };
        if number.is_empty() {
            return Err(bad());
        }
        if let Ok(n) = number.parse::<u64>() {
            return n.checked_mul(mult).map(ByteSize).ok_or_else(bad);
        }
        let f: f64 = number.parse().map_err(|_| bad())?;
        if !f.is_finite() || f < 0.0 || f * mult as f64 > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(ByteSize((f * mult as f64).round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human_bytes(self.0))
    }
}

/// `1.5 GiB`-style rendering for people; evidence keeps raw byte counts.
pub fn human_bytes(n: u64) -> String {
    const STEPS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < STEPS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", STEPS[i])
    }
}

/// An age or period, written as `90d`, `12h`, `30m`, `45s` or `2w`; at
/// most 100 years (`MAX_AGE_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub std::time::Duration);

/// The longest age the agent accepts (100 years): every age is added to or
/// taken from a calendar time somewhere, and a bound at parse time keeps
/// that arithmetic from overflowing, whatever was written.
pub const MAX_AGE_DAYS: u64 = 36_525;

impl FromStr for Age {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || format!("`{s}` is not an age; write e.g. `90d`, `12h`, `30m`, `45s` or `2w`");
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = t.split_at(split);
        let n: u64 = n.parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        match n.checked_mul(secs) {
            Some(s) if s <= MAX_AGE_DAYS * 86_400 => Ok(Age(std::time::Duration::from_secs(s))),
            _ => Err(format!(
                "`{s}` is longer than {MAX_AGE_DAYS}d (100 years), the longest age the agent accepts; write a shorter one, e.g. `3650d`"
            )),
        }
    }
}

/// How much of the candidate set one drill restores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleSize {
    /// At most this many recovery points.
    Count(u64),
    /// This share of the candidates (0 < p ≤ 100), rounded up, at least one.
    Percent(f64),
    /// As many recovery points as fit in this many bytes; the drill stops before
    /// the budget would be exceeded.
    Bytes(u64),
}

impl FromStr for SampleSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let hint = "write a count (`50`), a percentage (`2%`) or a byte budget (`10GiB`)";
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a sample size; {hint}"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!(
                    "`{s}`: a percentage must be above 0 and at most 100"
                ));
            }
            return Ok(SampleSize::Percent(p));
        }
        if let Ok(n) = t.parse::<u64>() {
            if n == 0 {
                return Err(format!("`{s}`: a sample of 0 restores nothing; {hint}"));
            }
            return Ok(SampleSize::Count(n));
        }
        // A byte budget carries its unit: `1.5` or `1e3` would otherwise be
        // a budget of 2 or 1000 bytes that restores nothing.
        let has_unit = {
            let lower = t.to_ascii_lowercase();
            UNITS.iter().any(|(u, _)| {
                lower.strip_suffix(u).is_some_and(|n| {
                    n.trim().chars().all(|c| c.is_ascii_digit() || c == '.') && !n.trim().is_empty()
                })
            })
        };
        match t.parse::<ByteSize>() {
            Ok(ByteSize(0)) if has_unit => {
                Err(format!("`{s}`: a byte budget of 0 restores nothing"))
            }
            Ok(ByteSize(b)) if has_unit => Ok(SampleSize::Bytes(b)),
            _ => Err(format!("`{s}` is not a sample size; {hint}")),
        }
    }
}

impl fmt::Display for SampleSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleSize::Count(n) => write!(f, "{n}"),
            SampleSize::Percent(p) => write!(f, "{p}%"),
            SampleSize::Bytes(b) => write!(f, "{}B", b),
        }
    }
}

/// Deserializes any of the text types above from a TOML string, or a bare
/// integer where that makes sense (`sample = 50`, `min_size = 1024`); any
/// other value (a negative number, a float) is an error that says what to
/// write.
macro_rules! text_or_int {
    ($t:ty, $what:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$t, E> {
                        n.to_string().parse().map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$t, E> {
                        match u64::try_from(n) {
                            Ok(n) => self.visit_u64(n),
                            Err(_) => Err(E::custom(format!("{n} is negative; {}", $what))),
                        }
                    }
                    fn visit_f64<E: de::Error>(self, n: f64) -> Result<$t, E> {
                        Err(E::custom(format!("{n} is not a whole number; {}", $what)))
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}
text_or_int!(
    ByteSize,
    "write a byte size, e.g. `1048576`, `\"512KiB\"` or `\"10GiB\"`"
);
text_or_int!(
    SampleSize,
    "write a count (`50`), a percentage (`\"2%\"`) or a byte budget with its unit (`\"10GiB\"`)"
);

/// `30d`, `12h`, `90m` or `45s`: the largest unit that divides the period.
pub fn age_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= secs && s.is_multiple_of(secs) {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

/// A share in percent, 0 to 100 (`"90%"` or `90`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(pub f64);

impl FromStr for Percent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let n = t.strip_suffix('%').unwrap_or(t).trim();
        match n.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(Percent(p)),
            Ok(_) => Err(format!("`{s}`: a percentage is between 0% and 100%")),
            Err(_) => Err(format!("`{s}` is not a percentage; write e.g. `\"90%\"`")),
        }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage, e.g. `\"90%\"`")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Percent, E> {
                n.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Percent, E> {
                n.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Percent, E> {
                n.to_string().parse().map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Percent, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

impl Serialize for SampleSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_written_in_their_largest_unit() {
        use std::time::Duration;
        assert_eq!(age_text(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(age_text(Duration::from_secs(14 * 86_400)), "14d");
        assert_eq!(age_text(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(age_text(Duration::from_secs(61)), "61s");
    }

    #[test]
    fn percentages_are_between_0_and_100() {
        assert_eq!("90%".parse::<Percent>(), Ok(Percent(90.0)));
        assert_eq!("99.5".parse::<Percent>(), Ok(Percent(99.5)));
        assert!("101%".parse::<Percent>().unwrap_err().contains("between"));
        assert!("most".parse::<Percent>().unwrap_err().contains("90%"));
    }

    #[test]
    fn byte_sizes_parse_binary_and_decimal_units() {
        assert_eq!("1048576".parse::<ByteSize>(), Ok(ByteSize(1 << 20)));
        assert_eq!("512KiB".parse::<ByteSize>(), Ok(ByteSize(512 << 10)));
        assert_eq!("10 GiB".parse::<ByteSize>(), Ok(ByteSize(10 << 30)));
        assert_eq!("1.5TB".parse::<ByteSize>(), Ok(ByteSize(1_500_000_000_000)));
        assert!("ten".parse::<ByteSize>().unwrap_err().contains("10GiB"));
        assert!("GiB".parse::<ByteSize>().is_err());
        assert!("99999999999TiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn sample_sizes_are_counts_percentages_or_budgets() {
        assert_eq!("50".parse::<SampleSize>(), Ok(SampleSize::Count(50)));
        assert_eq!("2%".parse::<SampleSize>(), Ok(SampleSize::Percent(2.0)));
        assert_eq!(
            "10GiB".parse::<SampleSize>(),
            Ok(SampleSize::Bytes(10 << 30))
        );
        assert!("0"
            .parse::<SampleSize>()
            .unwrap_err()
            .contains("restores nothing"));
        assert!("150%"
            .parse::<SampleSize>()
            .unwrap_err()
            .contains("at most 100"));
        assert!("lots".parse::<SampleSize>().unwrap_err().contains("`2%`"));
        // A byte budget needs its unit.
        for bad in ["1.5", "1e3", "-5", "5 5"] {
            assert!(
                bad.parse::<SampleSize>()
                    .unwrap_err()
                    .contains("not a sample size"),
                "{bad}"
            );
        }
        assert_eq!(
            "50MiB".parse::<SampleSize>(),
            Ok(SampleSize::Bytes(50 << 20))
        );
        assert_eq!("1.5 KB".parse::<SampleSize>(), Ok(SampleSize::Bytes(1500)));
    }

    #[test]
    fn sample_sizes_in_toml_say_what_to_write() {
        #[derive(Debug, Deserialize)]
        struct T {
            #[allow(dead_code, reason = "only the error is read")]
            sample: SampleSize,
        }
        for (text, says) in [
            ("sample = -5", "-5 is negative"),
            ("sample = 1.5", "not a whole number"),
            ("sample = \"1.5\"", "not a sample size"),
            ("sample = true", "a count"),
        ] {
            let e = toml::from_str::<T>(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(!e.contains("untagged"), "{text}: {e}");
        }
        assert_eq!(
            toml::from_str::<T>("sample = 50").map(|t| t.sample).ok(),
            Some(SampleSize::Count(50))
        );
    }

    #[test]
    fn ages_need_a_unit() {
        assert_eq!("90d".parse::<Age>().map(|a| a.0.as_secs()), Ok(90 * 86_400));
        assert!("90".parse::<Age>().unwrap_err().contains("`90d`"));
        assert!("d".parse::<Age>().is_err());
        // Ages that would overflow calendar arithmetic are refused by name.
        for long in ["100000000w", "99999999d", "36526d", "18446744073709551615s"] {
            let e = long.parse::<Age>().unwrap_err();
            assert!(e.contains("longest age") && e.contains(long), "{long}: {e}");
        }
        assert!("36525d".parse::<Age>().is_ok());
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
