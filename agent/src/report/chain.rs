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
    Ok(ChainSummary {
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
