//! When a drill runs: a cron expression (seconds optional) read in a time
//! zone, an optional random jitter, and a policy for runs missed while the
//! agent was down.
//!
//! Pure and deterministic given its inputs (the jitter takes the random
//! source as a parameter), so the daemon's timing is testable without
//! waiting.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::Rng;
use std::time::Duration;

/// What to do about fire times that passed while the agent was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Wait for the next fire time.
    Skip,
    /// Run once at start if at least one fire time was missed.
    RunOnce,
}

/// One drill's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: cron::Schedule,
    tz: Tz,
    jitter: Duration,
    missed: Missed,
}

impl Schedule {
    /// Parses `expr` (5 fields, or 6 with seconds first) in the IANA time
    /// zone `tz` (e.g. `Europe/Berlin`, `UTC`).
    ///
    /// # Errors
    /// A message naming the bad expression or time zone.
    pub fn new(
        expr: &str,
        tz: &str,
        jitter: Duration,
        missed: Missed,
    ) -> Result<Self, ScheduleError> {
        let cron = parse_schedule(expr)?;
        let tz: Tz = tz
            .parse()
            .map_err(|_| ScheduleError::TimeZone(tz.to_owned()))?;
        Ok(Self {
            expr: expr.to_owned(),
            cron,
            tz,
            jitter,
            missed,
        })
    }

    /// The cron expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The time zone's IANA name.
    pub fn timezone(&self) -> &str {
        self.tz.name()
    }

    /// The jitter bound.
    pub fn jitter(&self) -> Duration {
        self.jitter
    }

    /// The missed-run policy.
    pub fn missed(&self) -> Missed {
        self.missed
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&after.with_timezone(&self.tz))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether a run is due at start because fire times passed since the
    /// last recorded run (`None`: never ran, nothing was missed).
    pub fn missed_run_due(&self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match (self.missed, last_run) {
            (Missed::RunOnce, Some(last)) => self.next_after(last).is_some_and(|t| t <= now),
            _ => false,
        }
    }

    /// `fire` delayed by a random share of the jitter, so many agents on one
    /// schedule do not all hit the provider at once.
    pub fn jittered(&self, fire: DateTime<Utc>, rng: &mut impl Rng) -> DateTime<Utc> {
        if self.jitter.is_zero() {
            return fire;
        }
        let ms = rng.random_range(0..self.jitter.as_millis().max(1) as u64);
        fire + chrono::Duration::milliseconds(ms as i64)
    }
}

/// What is wrong with a schedule.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{expr}` has {fields} fields; write a cron expression with 5 fields (`min hour day month weekday`, e.g. `0 3 * * *`) or 6 with seconds first")]
    Fields { expr: String, fields: usize },
    #[error("`{expr}` is not a valid cron expression: {source}")]
    Cron {
        expr: String,
        source: cron::error::Error,
    },
    #[error("`{0}` never fires (no such date, e.g. 30 February); fix the day and month fields")]
    NeverFires(String),
    #[error("`{expr}`: the {field} field allows {min} to {max}; {value} is outside it")]
    Range {
        expr: String,
        field: &'static str,
        min: u32,
        max: u32,
        value: u32,
    },
    #[error("`{0}` is not an IANA time zone; write e.g. `UTC` or `Europe/Berlin`")]
    TimeZone(String),
}

/// Parses a cron expression of 5 fields, or 6 with seconds first, that
/// fires at least once.
///
/// # Errors
/// [`ScheduleError`] saying what to write instead.
pub fn parse_schedule(expr: &str) -> Result<cron::Schedule, ScheduleError> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 => expr.to_owned(),
        _ => {
            return Err(ScheduleError::Fields {
                expr: expr.to_owned(),
                fields,
            })
        }
    };
    // Numbers out of range are named here: the cron crate's own messages
    // for them are off by one ("Hours must be less than 23").
    const RANGES: [(&str, u32, u32); 5] = [
        ("second", 0, 59),
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day-of-month", 1, 31),
        ("month", 1, 12),
    ];
    for (text, (field, min, max)) in full.split_whitespace().zip(RANGES) {
        // Items are `A`, `A-B`, `*`, each with an optional `/STEP` (a
        // step is not a value of the field).
        let numbers = text
            .split(',')
            .filter_map(|item| item.split('/').next())
            .flat_map(|range| range.split('-'))
            .filter_map(|n| n.parse::<u32>().ok());
        for value in numbers {
            if value < min || value > max {
                return Err(ScheduleError::Range {
                    expr: expr.to_owned(),
                    field,
                    min,
                    max,
                    value,
                });
            }
        }
    }
    let schedule = full
        .parse::<cron::Schedule>()
        .map_err(|source| ScheduleError::Cron {
            expr: expr.to_owned(),
            source,
        })?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(ScheduleError::NeverFires(expr.to_owned()));
    }
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn out_of_range_fields_are_named_with_their_range() {
        let e = parse_schedule("0 24 * * *").expect_err("hour 24");
        assert_eq!(
            e.to_string(),
            "`0 24 * * *`: the hour field allows 0 to 23; 24 is outside it"
        );
        assert!(parse_schedule("0 23 * * *").is_ok());
        assert!(parse_schedule("*/15 * * * * *").is_ok());
        assert!(parse_schedule("0 0,61 * * * *").is_err());
        assert!(parse_schedule("0 0 32 * *").is_err());
        assert!(parse_schedule("0 */6 * * *").is_ok());
        assert!(parse_schedule("0 0-23/2 * * *").is_ok());
        assert!(parse_schedule("0 13 * 13 *").is_err());
    }

    #[test]
    fn cron_is_read_in_the_configured_time_zone_across_dst() {
        let s = Schedule::new("30 2 * * *", "Europe/Berlin", Duration::ZERO, Missed::Skip)
            .expect("schedule");
        // 02:30 Berlin is 01:30 UTC in winter and 00:30 UTC in summer.
        assert_eq!(
            s.next_after(at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T01:30:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-07-10T12:00:00Z")),
            Some(at("2026-07-11T00:30:00Z"))
        );
        let utc =
            Schedule::new("0 0 3 * * *", "UTC", Duration::ZERO, Missed::Skip).expect("schedule");
        assert_eq!(
            utc.next_after(at("2026-11-29T03:00:00Z")),
            Some(at("2026-11-30T03:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        let e = Schedule::new("0 3 * * *", "Mars/Olympus", Duration::ZERO, Missed::Skip)
            .expect_err("zone");
        assert!(
            e.to_string()
                .contains("`Mars/Olympus` is not an IANA time zone"),
            "{e}"
        );
        let e = Schedule::new("nightly", "UTC", Duration::ZERO, Missed::Skip).expect_err("cron");
        assert!(e.to_string().contains("5 fields"), "{e}");
    }

    #[test]
    fn a_missed_run_is_due_only_with_run_once_and_a_passed_fire_time() {
        let once =
            Schedule::new("0 3 * * *", "UTC", Duration::ZERO, Missed::RunOnce).expect("schedule");
        let skip =
            Schedule::new("0 3 * * *", "UTC", Duration::ZERO, Missed::Skip).expect("schedule");
        let last = Some(at("2026-11-27T03:00:05Z"));
        let now = at("2026-11-29T10:00:00Z");
        assert!(once.missed_run_due(last, now));
        assert!(!skip.missed_run_due(last, now));
        assert!(
            !once.missed_run_due(Some(at("2026-11-29T03:00:05Z")), now),
            "nothing missed since"
        );
        assert!(
            !once.missed_run_due(None, now),
            "a drill that never ran missed nothing"
        );
    }

    #[test]
    fn jitter_delays_within_its_bound() {
        let s = Schedule::new("0 3 * * *", "UTC", Duration::from_secs(600), Missed::Skip)
            .expect("schedule");
        let fire = at("2026-11-30T03:00:00Z");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let t = s.jittered(fire, &mut rng);
            assert!(
                t >= fire && t < fire + chrono::Duration::seconds(600),
                "{t}"
            );
            seen.insert(t);
        }
        assert!(seen.len() > 50, "the delay varies");
    }
}
