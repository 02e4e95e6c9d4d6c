//! Property tests: arbitrary text fed to every parser of values operators
//! write (ages, byte sizes, sample sizes, percentages, cron expressions,
//! whole config values) never panics, and whatever parses
//! stays within bounds the rest of the agent can compute with.

use super::{schedule, Age, ByteSize, Config, Percent, SampleSize};
use proptest::prelude::*;

/// Text that looks like what operators write, and text that does not.
pub(crate) fn operator_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // number + unit, with large numbers and odd spacing
        (
            "[0-9]{1,25}",
            " ?",
            "(s|m|h|d|w|b|B|KiB|kb|MiB|GiB|TiB|TB|%|\\.5|e9)?"
        )
            .prop_map(|(n, sp, u)| format!("{n}{sp}{u}")),
        // signs, decimals, exponents
        "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,4})?(%|GiB|d)?",
        // anything at all
        any::<String>(),
        "\\PC{0,40}",
    ]
}

/// Cron-like text: fields of numbers, ranges, steps and names.
fn cron_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        "(\\*|[0-9]{1,12}|[0-9]{1,3}-[0-9]{1,12}|\\*/[0-9]{1,12}|[0-9]{1,3}/[0-9]{0,12}|[A-Za-z]{1,4}|\\?|L|#|,)",
        0..8,
    )
    .prop_map(|f| f.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn ages_never_panic_and_fit_calendar_arithmetic(s in operator_text()) {
        if let Ok(Age(d)) = s.parse::<Age>() {
            let delta = chrono::TimeDelta::from_std(d).expect("an accepted age is a TimeDelta");
            let now = chrono::Utc::now();
            prop_assert!(now.checked_sub_signed(delta).is_some());
            prop_assert!(now.checked_add_signed(delta).is_some());
        }
    }

    #[test]
    fn sizes_samples_and_percentages_never_panic(s in operator_text()) {
        let _ = s.parse::<ByteSize>();
        if let Ok(SampleSize::Percent(p)) = s.parse::<SampleSize>() {
            prop_assert!(p > 0.0 && p <= 100.0);
        }
        if let Ok(Percent(p)) = s.parse::<Percent>() {
            prop_assert!((0.0..=100.0).contains(&p));
        }
    }

    #[test]
    fn cron_expressions_never_panic(expr in cron_text(), tz in "(UTC|Europe/Berlin|\\PC{0,12})") {
        if let Ok(s) = schedule::Schedule::new(&expr, &tz, std::time::Duration::ZERO, schedule::Missed::Skip) {
            let _ = s.next_after(chrono::Utc::now());
        }
    }

    /// Any value in any setting that takes one: the file is refused with a
    /// message or accepted, never a panic.
    #[test]
    fn config_values_never_panic(value in operator_text(), key in prop::sample::select(vec![
        "sample", "restore_timeout", "coverage", "jitter", "schedule", "concurrency",
        "attempts", "filter.max_age", "filter.min_size", "filter.max_size", "gate.max_age",
        "gate.min_coverage",
    ])) {
        let quoted = toml::Value::String(value.clone()).to_string();
        let (table, leaf) = match key.split_once('.') {
            Some((t, l)) => (format!("[drills.d.{t}]\n"), l),
            None => (String::new(), key),
        };
        let text = format!(
            "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[drills.d]\nsource = \"s\"\n{table}{leaf} = {quoted}\n"
        );
        let _ = Config::from_toml(&text, std::path::Path::new("/"));
    }
}
