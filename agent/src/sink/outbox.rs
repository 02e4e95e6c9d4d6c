//! The outbox's bounds (`[outbox] max_age`, `max_bytes`): old events are
//! removed from the ledger's `events` table. An event some sink has not yet
//! acknowledged is never removed silently: the sink's cursor moves past it,
//! an ERROR is logged and an `evidence_dropped` event records how many, for
//! which sink, and why.

use crate::config::Config;
use crate::evidence::{AgentInfo, Body, Event, EventKind};
use crate::ledger::recorder::{lock, Recorder};
use chrono::SecondsFormat;
use std::sync::Mutex;

/// Applies the bounds; returns how many events were removed.
///
/// # Errors
/// When the ledger cannot be read or written.
pub fn prune(
    recorder: &Mutex<Recorder>,
    config: &Config,
) -> Result<u64, crate::ledger::evidence_file::EvidenceFileError> {
    let bounds = &config.outbox;
    if bounds.max_age.is_none() && bounds.max_bytes.is_none() {
        return Ok(0);
    }
    let older_than = bounds.max_age.and_then(|a| {
        chrono::Duration::from_std(a)
            .ok()
            .map(|a| (chrono::Utc::now() - a).to_rfc3339_opts(SecondsFormat::Millis, true))
    });
    let mut r = lock(recorder);
    let cutoff = r
        .ledger
        .outbox_cutoff(older_than.as_deref(), bounds.max_bytes)?;
    if cutoff == 0 {
        return Ok(0);
    }
    let mut cursors: Vec<(String, String)> = config
        .sinks
        .keys()
        .map(|n| (n.clone(), format!("sink:{n}")))
        .collect();
    cursors.push(("evidence file".into(), "file:evidence".into()));
    for (sink, cursor_name) in cursors {
        let cursor = r.ledger.sink_cursor(&cursor_name)?;
        if cursor >= cutoff {
            continue;
        }
        let count = r.ledger.events_between(cursor, cutoff)?;
        r.ledger.advance_sink_cursor(&cursor_name, cutoff)?;
        if count == 0 {
            continue;
        }
        let reason = match &older_than {
            Some(t) => format!("the outbox keeps only events recorded after {t} (outbox.max_age) and within outbox.max_bytes; the sink had not acknowledged these"),
            None => "the outbox is bounded by outbox.max_bytes; the sink had not acknowledged these".into(),
        };
        tracing::error!(sink, count, first_seq = cursor + 1, last_seq = cutoff, "Undelivered evidence dropped from the outbox by its bounds; raise outbox.max_age / max_bytes or fix the sink.");
        let mut event = Event::new(
            None,
            &EvidenceDropped {
                agent: AgentInfo::current(),
                sink,
                count,
                first_seq: cursor + 1,
                last_seq: cutoff,
                reason,
            },
        );
        r.commit(&mut event, |l, e| l.record_event(e))?;
    }
    Ok(r.ledger.remove_events_through(cutoff)?)
}

/// The body of an `evidence_dropped` event.
#[derive(serde::Serialize)]
struct EvidenceDropped {
    agent: AgentInfo,
    sink: String,
    count: u64,
    first_seq: u64,
    last_seq: u64,
    reason: String,
}

impl Body for EvidenceDropped {
    const KIND: EventKind = EventKind::EvidenceDropped;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn bounds_drop_undelivered_events_only_with_a_record_of_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::from_toml(
            "[outbox]\nmax_bytes = \"1MiB\"\n[sinks.siem]\nkind = \"stdout\"\n",
            dir.path(),
        )
        .expect("config");
        let recorder = Recorder::shared(&dir.path().join("l.db"), &dir.path().join("e.jsonl"))
            .expect("recorder");
        let filler = "x".repeat(4000);
        for i in 0..400 {
            let mut e = Event::with_value(
                EventKind::Checkpoint,
                None,
                serde_json::json!({"i": i, "filler": filler}),
            );
            lock(&recorder)
                .commit(&mut e, |l, e| l.record_event(e))
                .expect("record");
        }
        // The sink acknowledged the first 100.
        lock(&recorder)
            .ledger
            .advance_sink_cursor("sink:siem", 100)
            .expect("cursor");

        let removed = prune(&recorder, &config).expect("prune");
        let r = lock(&recorder);
        let last = r.ledger.last_seq().expect("last");
        assert_eq!(last, 401, "400 events and one evidence_dropped");
        assert!(removed > 100 && removed < 400, "{removed}");
        let kept = r.ledger.events_after(0, 10_000).expect("events");
        let bytes: usize = kept.iter().map(|(_, l)| l.len()).sum();
        assert!(bytes <= (1 << 20) + 5000, "{bytes}");
        let dropped: serde_json::Value =
            serde_json::from_str(&kept.last().expect("event").1).expect("json");
        assert_eq!(dropped["kind"], "evidence_dropped");
        assert_eq!(dropped["sink"], "siem");
        assert_eq!(dropped["first_seq"], 101);
        assert_eq!(dropped["count"], removed - 100);
        // The sink goes on after the gap it was told about.
        assert_eq!(r.ledger.sink_cursor("sink:siem").expect("cursor"), removed);
        drop(r);
        // Within bounds now: nothing more to remove or report.
        assert_eq!(prune(&recorder, &config).expect("prune"), 0);
        assert_eq!(lock(&recorder).ledger.last_seq().expect("last"), 401);
    }
}
