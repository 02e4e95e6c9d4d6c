//! Attestations other tools verify: one in-toto Statement v1 per drill run,
//! in a DSSE envelope signed with the evidence signing key (Ed25519).
//!
//! - subject: every evidence line of the run, named `evidence/SEQ`, by the
//!   SHA-256 of the line exactly as the evidence file and the sinks hold it;
//! - predicate: the SLSA Verification Summary Attestation v1
//!   (`https://slsa.dev/verification_summary/v1`): `verifier`,
//!   `timeVerified`, `resourceUri` (bucket or container and prefix),
//!   `policy` (the drill), `verificationResult` (`PASSED` when the run's
//!   outcome is `passed`), plus `restoreproof` with the run's verdict
//!   counts, coverage, seed and outcome;
//! - envelope: DSSE v1, `payloadType` `application/vnd.in-toto+json`, the
//!   signature over PAE(type, payload), `keyid` = the key's fingerprint
//!   (hex SHA-256 of the raw public key).

use super::chain::NoteKey;
use crate::outcome::RunOutcome;
use base64::Engine as _;
use serde_json::{json, Value};

/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type.
pub const VSA: &str = "https://slsa.dev/verification_summary/v1";

/// DSSE's pre-authentication encoding of a payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// One evidence line of a run: its sequence number and the line.
#[derive(Debug, Clone)]
pub struct Line {
    pub seq: u64,
    pub text: String,
}

/// The in-toto statement of one run from its summary (the `run_summary`
/// record's JSON, `null` for a run that ended without one) and its
/// evidence lines.
pub fn statement(
    run_id: &str,
    drill: &str,
    summary: Option<&super::record::RunSummary>,
    lines: &[Line],
) -> Value {
    let subject: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "name": format!("evidence/{}", l.seq),
                "digest": { "sha256": super::sha256_hex(l.text.as_bytes()) },
            })
        })
        .collect();
    let default = super::record::RunSummary::default();
    let s = summary.unwrap_or(&default);
    let outcome = summary.and_then(super::record::RunSummary::outcome);
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": VSA,
        "predicate": {
            "verifier": {
                "id": "https://restoreproof.invalid/agent",
                "version": { "restoreproof": env!("CARGO_PKG_VERSION") },
            },
            "timeVerified": summary.map(|s| &s.finished_at),
            "resourceUri": s.source.url(&s.source.prefix),
            "policy": { "uri": format!("restoreproof:drill/{drill}") },
            "verificationResult": if outcome.is_some_and(RunOutcome::passed) { "PASSED" } else { "FAILED" },
            "verifiedLevels": [],
            "restoreproof": {
                "run_id": run_id,
                "drill": drill,
                "outcome": outcome,
                "reason": s.reason,
                "counts": summary.map(|s| s.counts),
                "sampled": summary.map(|s| s.sampled),
                "strategy": summary.map(|s| &s.strategy),
                "seed": s.seed,
                "coverage": s.coverage,
                "endpoint": s.source.endpoint,
            },
        },
    })
}

/// `statement` in a DSSE envelope signed with `key`.
pub fn envelope(statement: &Value, key: &NoteKey) -> Value {
    let payload = serde_json::to_vec(statement).unwrap_or_default();
    let sig = key.sign_bytes(&pae(PAYLOAD_TYPE, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": b64.encode(&payload),
        "signatures": [{ "keyid": key.fingerprint(), "sig": b64.encode(sig) }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_as_dsse_specifies() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
