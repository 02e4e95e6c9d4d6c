//! The evidence chain's state over a report's window, as the report states it.

use super::*;

/// The ledger's chain as verified for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ChainSummary {
    pub intact: bool,
    pub events: u64,
    pub problems: Vec<String>,
    pub checkpoints_in_period: u64,
    pub signed_checkpoints_in_period: u64,
    /// The public keys (`name+id+key`, as `evidence keygen` printed them)
    /// that signed checkpoints in the period: check them against the key
    /// kept off the host.
    pub signers: Vec<String>,
    /// The chain's last event: its sequence number and hash, so a printed
    /// report can be tied to the evidence.
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// The latest checkpoint in the period: the chain size and head it
    /// commits to, and the key that signed it (`None`: unsigned).
    pub last_checkpoint: Option<CheckpointRef>,
}

/// A checkpoint as the report names it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointRef {
    pub size: u64,
    pub head: String,
    pub signed_by: Option<String>,
}

pub(super) fn chain_summary(ledger: &Ledger, since: &str) -> Result<ChainSummary, LedgerError> {
    let lines = ledger.evidence_lines()?;
    let anchor = ledger.chain_anchor()?;
    let r = verify_lines(lines, (anchor.0 > 0).then_some(anchor), None);
    let checkpoints: Vec<crate::evidence::record::Checkpoint> = ledger
        .events_since(EventKind::Checkpoint, since)?
        .into_iter()
        .filter_map(|r| match r.body {
            crate::evidence::record::Body::Checkpoint(c) => Some(c),
            _ => None,
        })
        .collect();
    let signed = checkpoints.iter().filter(|c| c.signed()).count() as u64;
    let last_checkpoint = checkpoints.last().map(|c| CheckpointRef {
        size: c.size,
        head: c.head.clone(),
        signed_by: c.key.clone().filter(|_| c.signed()),
    });
    Ok(ChainSummary {
        head_seq: r.last_seq,
        head_hash: r.head.clone(),
        last_checkpoint,
        intact: r.intact(),
        events: r.events,
        problems: r
            .findings
            .iter()
            .map(|f| format!("{} at {}: {}", f.kind, f.location, f.message))
            .collect(),
        checkpoints_in_period: checkpoints.len() as u64,
        signed_checkpoints_in_period: signed,
        signers: checkpoints
            .iter()
            .filter_map(|c| c.key.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    })
}
