//! Verification: hashing restored bytes in one streaming pass and comparing
//! them with every independent reference that exists.
//!
//! Invariants:
//! - memory is bounded by the number of parts, never by the object size;
//! - every reference that exists is reported by name: compared (with
//!   expected and actual values), or `not_computed` when the policy left it
//!   out; "no reference" is distinct from "mismatch";
//! - `verified` needs an independent reference that matched: a stored
//!   checksum, an MD5 ETag or the first-seen baseline; sizes never make a
//!   verdict of `verified`;
//! - a reference that cannot be computed with certainty (part sizes taken
//!   from the first and last parts only) is `not_comparable` until the
//!   layout is confirmed part by part ([`Digests::confirm_layout`]), never a
//!   mismatch on a guess.
//!
//! What is hashed ([`VerifyPolicy`]): `efficient` computes SHA-256 (the
//! baseline) plus the one stored reference that proves the bytes most
//! cheaply — a stored full-object SHA-256 costs nothing more, then CRC64NVME,
//! CRC32C, CRC32, SHA-1; a composite checksum or multipart ETag only when
//! nothing full-object exists; MD5 (the slowest hash here) only when an MD5
//! is the only stored reference. `thorough` computes every reference.

pub use crate::config::VerifyPolicy;
use crate::source::{Candidate, ChecksumAlgorithm, ChecksumScope, PartSizesFrom, StoredAttributes};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::Md5;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt;

/// The outcome of one restore, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Verified,
    Mismatch,
    Unrecoverable,
    NoReference,
    Skipped,
    /// The restore was cancelled before it finished (the agent was stopping
    /// and the shutdown deadline passed); says nothing about the bytes.
    Aborted,
}

impl Verdict {
    /// Whether this verdict makes the drill fail (exit code 1).
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Mismatch | Verdict::Unrecoverable)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Mismatch => "mismatch",
            Verdict::Unrecoverable => "unrecoverable",
            Verdict::NoReference => "no_reference",
            Verdict::Skipped => "skipped",
            Verdict::Aborted => "aborted",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of reference a check compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// A checksum the provider stores with the recovery point.
    ProviderChecksum,
    /// The provider's ETag (an MD5, or MD5 of part MD5s).
    Etag,
    /// The ledger's first-seen SHA-256 of this recovery point.
    Baseline,
    /// A size the provider reported; never makes a verdict of `verified`.
    Size,
}

/// How one comparison came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Match,
    Mismatch,
    /// The reference exists but could not be computed with certainty; `note`
    /// says why.
    NotComparable,
    /// The reference exists and the verify policy left it uncomputed (a
    /// cheaper one proves the same bytes); `verify = "thorough"` checks it.
    NotComputed,
}

/// One reference compared with the restored bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name, e.g. `s3.checksum.crc32c`, `s3.etag`, `baseline.sha256`.
    pub name: String,
    pub kind: ReferenceKind,
    pub expected: String,
    pub actual: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The ledger's first-seen record of a recovery point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub sha256: String,
    pub size: u64,
    pub first_seen: String,
}

enum Algo {
    Crc(Box<crc_fast::Digest>, usize),
    Sha1(Box<Sha1>),
    Sha256(Box<Sha256>),
    Md5(Box<Md5>),
}

impl Algo {
    fn new(a: ChecksumAlgorithm) -> Self {
        use crc_fast::CrcAlgorithm as C;
        match a {
            ChecksumAlgorithm::Crc32 => {
                Algo::Crc(Box::new(crc_fast::Digest::new(C::Crc32IsoHdlc)), 4)
            }
            ChecksumAlgorithm::Crc32c => {
                Algo::Crc(Box::new(crc_fast::Digest::new(C::Crc32Iscsi)), 4)
            }
            ChecksumAlgorithm::Crc64Nvme => {
                Algo::Crc(Box::new(crc_fast::Digest::new(C::Crc64Nvme)), 8)
            }
            ChecksumAlgorithm::Sha1 => Algo::Sha1(Box::default()),
            ChecksumAlgorithm::Sha256 => Algo::Sha256(Box::default()),
            ChecksumAlgorithm::Md5 => Algo::Md5(Box::default()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Algo::Crc(d, _) => d.update(data),
            Algo::Sha1(d) => d.update(data),
            Algo::Sha256(d) => d.update(data),
            Algo::Md5(d) => d.update(data),
        }
    }

    /// The digest as big-endian bytes (the form S3 base64-encodes), resetting
    /// the state for the next part.
    fn finish_reset(&mut self) -> Vec<u8> {
        match self {
            Algo::Crc(d, width) => {
                let v = d.finalize_reset();
                v.to_be_bytes()[8 - *width..].to_vec()
            }
            Algo::Sha1(d) => d.finalize_reset().to_vec(),
            Algo::Sha256(d) => d.finalize_reset().to_vec(),
            Algo::Md5(d) => d.finalize_reset().to_vec(),
        }
    }
}

/// Hashes one part layout: a digest per part for each algorithm.
struct PartHasher {
    sizes: Vec<u64>,
    /// Index of the part being hashed.
    index: usize,
    /// Bytes left in that part.
    left: u64,
    algos: Vec<(ChecksumAlgorithm, Algo)>,
    /// Per algorithm, the digest of each finished part.
    digests: Vec<Vec<Vec<u8>>>,
    /// The data ran past the last part.
    overflow: bool,
}

impl PartHasher {
    fn new(sizes: Vec<u64>, algorithms: &[ChecksumAlgorithm]) -> Self {
        let left = sizes.first().copied().unwrap_or(0);
        Self {
            index: 0,
            left,
            algos: algorithms.iter().map(|a| (*a, Algo::new(*a))).collect(),
            digests: vec![Vec::with_capacity(sizes.len()); algorithms.len()],
            sizes,
            overflow: false,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.index >= self.sizes.len() {
                self.overflow = true;
                return;
            }
            let take = (self.left.min(data.len() as u64)) as usize;
            for (_, a) in &mut self.algos {
                a.update(&data[..take]);
            }
            data = &data[take..];
            self.left -= take as u64;
            if self.left == 0 {
                self.close_part();
            }
        }
    }

    fn close_part(&mut self) {
        for (i, (_, a)) in self.algos.iter_mut().enumerate() {
            self.digests[i].push(a.finish_reset());
        }
        self.index += 1;
        self.left = self.sizes.get(self.index).copied().unwrap_or(0);
        // Zero-size parts do not exist in S3; skip defensively.
        while self.left == 0 && self.index < self.sizes.len() {
            self.index += 1;
            self.left = self.sizes.get(self.index).copied().unwrap_or(0);
        }
    }

    /// Whether the data ended exactly at the end of the last part.
    fn complete(&self) -> bool {
        !self.overflow && self.index == self.sizes.len()
    }

    /// The composite value for `algorithm` in S3's form: base64 of the
    /// algorithm over the concatenated part digests, then `-N`. For MD5 it is
    /// the multipart ETag form: hex, then `-N`.
    fn composite(&self, algorithm: ChecksumAlgorithm) -> Option<String> {
        let i = self.algos.iter().position(|(a, _)| *a == algorithm)?;
        let parts = &self.digests[i];
        let mut outer = Algo::new(algorithm);
        for d in parts {
            outer.update(d);
        }
        let v = outer.finish_reset();
        Some(if algorithm == ChecksumAlgorithm::Md5 {
            format!("{}-{}", hex::encode(v), parts.len())
        } else {
            format!("{}-{}", B64.encode(v), parts.len())
        })
    }
}

/// A part layout and whether the provider vouched for it.
struct Layout {
    hasher: PartHasher,
    /// Every part size came from the provider, so a disagreement is a
    /// mismatch; otherwise it waits for [`Digests::confirm_layout`].
    authoritative: bool,
}

/// One streaming pass over restored bytes, computing exactly what the
/// planned references need.
pub struct Hasher {
    bytes: u64,
    sha256: Sha256,
    full: Vec<(ChecksumAlgorithm, Algo)>,
    layout: Option<Layout>,
    part_algorithms: Vec<ChecksumAlgorithm>,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("bytes", &self.bytes)
            .field(
                "full",
                &self.full.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            )
            .field("part_algorithms", &self.part_algorithms)
            .finish_non_exhaustive()
    }
}

/// Whether an ETag claims to be an MD5 of the content: 32 hex digits, no
/// part count, and not produced by SSE-KMS or SSE-C.
fn etag_is_md5(attrs: &StoredAttributes, sse: Option<&str>) -> bool {
    attrs
        .etag
        .as_deref()
        .is_some_and(|e| e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit()))
        && !etag_opaque(attrs, sse)
}

/// The ETag is known not to be computed from the content.
fn etag_opaque(attrs: &StoredAttributes, sse: Option<&str>) -> bool {
    let kms = matches!(sse.or(attrs.server_side_encryption.as_deref()), Some(s) if s.starts_with("aws:kms"));
    attrs.etag_not_md5 || kms
}

fn etag_parts(attrs: &StoredAttributes, sse: Option<&str>) -> Option<u32> {
    if etag_opaque(attrs, sse) {
        return None;
    }
    let e = attrs.etag.as_deref()?;
    let (h, n) = e.rsplit_once('-')?;
    (h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| n.parse().ok())?
}

/// Cheapest first. SHA-256 is computed for the baseline anyway, so a
/// stored SHA-256 costs nothing more; MD5 is the slowest hash here.
const COST_ORDER: [ChecksumAlgorithm; 6] = [
    ChecksumAlgorithm::Sha256,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Crc32c,
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Md5,
];

fn cheapest(algorithms: impl Iterator<Item = ChecksumAlgorithm>) -> Option<ChecksumAlgorithm> {
    let v: Vec<ChecksumAlgorithm> = algorithms.collect();
    COST_ORDER.into_iter().find(|a| v.contains(a))
}

/// What one recovery point's references ask to be hashed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Full-object digests besides SHA-256.
    pub full: Vec<ChecksumAlgorithm>,
    /// Per-part digests (composite checksums, multipart ETags).
    pub parts: Vec<ChecksumAlgorithm>,
}

impl Plan {
    /// Chooses what to hash for `attrs` under `policy`. `sse` is the
    /// encryption the restore response reported.
    pub fn new(attrs: &StoredAttributes, sse: Option<&str>, policy: VerifyPolicy) -> Self {
        let full_refs: Vec<ChecksumAlgorithm> = attrs
            .checksums
            .iter()
            .filter(|c| c.scope == ChecksumScope::FullObject)
            .map(|c| c.algorithm)
            .chain(etag_is_md5(attrs, sse).then_some(ChecksumAlgorithm::Md5))
            .collect();
        let part_refs: Vec<ChecksumAlgorithm> = attrs
            .checksums
            .iter()
            .filter(|c| c.scope == ChecksumScope::Composite)
            .map(|c| c.algorithm)
            .chain(etag_parts(attrs, sse).map(|_| ChecksumAlgorithm::Md5))
            .collect();
        let mut plan = Plan::default();
        match policy {
            VerifyPolicy::Thorough => {
                plan.full = full_refs;
                plan.parts = part_refs;
            }
            VerifyPolicy::Efficient => {
                let not_md5 = |a: &ChecksumAlgorithm| *a != ChecksumAlgorithm::Md5;
                let layout = attrs.part_sizes.is_some();
                if let Some(a) = cheapest(full_refs.iter().copied().filter(not_md5)) {
                    plan.full.push(a);
                } else if let Some(a) =
                    cheapest(part_refs.iter().copied().filter(not_md5)).filter(|_| layout)
                {
                    plan.parts.push(a);
                } else if full_refs.contains(&ChecksumAlgorithm::Md5) {
                    plan.full.push(ChecksumAlgorithm::Md5);
                } else if let Some(a) = cheapest(part_refs.iter().copied()) {
                    plan.parts.push(a);
                }
            }
        }
        plan.full.retain(|a| *a != ChecksumAlgorithm::Sha256);
        for v in [&mut plan.full, &mut plan.parts] {
            v.sort();
            v.dedup();
        }
        plan
    }

    /// Whether the planned references need the part sizes.
    pub fn needs_part_sizes(&self) -> bool {
        !self.parts.is_empty()
    }
}

impl Hasher {
    /// Plans the hashing for one recovery point from its stored attributes,
    /// the encryption the restore response reported and the policy.
    pub fn plan(attrs: &StoredAttributes, sse: Option<&str>, policy: VerifyPolicy) -> Self {
        let plan = Plan::new(attrs, sse, policy);
        let layout = match (&attrs.part_sizes, plan.parts.is_empty()) {
            (Some(sizes), false) => Some(Layout {
                hasher: PartHasher::new(sizes.clone(), &plan.parts),
                authoritative: attrs.part_sizes_from != Some(PartSizesFrom::FirstAndLast),
            }),
            _ => None,
        };
        Self {
            bytes: 0,
            sha256: Sha256::new(),
            full: plan.full.iter().map(|a| (*a, Algo::new(*a))).collect(),
            layout,
            part_algorithms: plan.parts,
        }
    }

    /// Feeds the next chunk of restored bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.sha256.update(data);
        for (_, a) in &mut self.full {
            a.update(data);
        }
        if let Some(l) = &mut self.layout {
            l.hasher.update(data);
        }
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Finishes the pass.
    pub fn finish(mut self) -> Digests {
        let sha256 = self.sha256.finalize_reset().to_vec();
        let full = self
            .full
            .iter_mut()
            .map(|(a, d)| (*a, d.finish_reset()))
            .collect();
        Digests {
            bytes: self.bytes,
            sha256_hex: hex::encode(&sha256),
            sha256,
            full,
            layout: self.layout,
            part_algorithms: self.part_algorithms,
        }
    }
}

/// What one pass computed.
pub struct Digests {
    pub bytes: u64,
    pub sha256: Vec<u8>,
    pub sha256_hex: String,
    full: Vec<(ChecksumAlgorithm, Vec<u8>)>,
    layout: Option<Layout>,
    part_algorithms: Vec<ChecksumAlgorithm>,
}

impl fmt::Debug for Digests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digests")
            .field("bytes", &self.bytes)
            .field("sha256", &self.sha256_hex)
            .finish_non_exhaustive()
    }
}

impl Digests {
    fn full_value(&self, a: ChecksumAlgorithm) -> Option<Vec<u8>> {
        if a == ChecksumAlgorithm::Sha256 {
            return Some(self.sha256.clone());
        }
        self.full
            .iter()
            .find(|(x, _)| *x == a)
            .map(|(_, v)| v.clone())
    }

    /// The part sizes a composite value was computed over, when they were
    /// taken from the first and last parts only and the bytes filled them
    /// exactly: a value that did not reproduce waits for these sizes to be
    /// confirmed part by part.
    pub fn unconfirmed_layout(&self) -> Option<&[u64]> {
        self.layout
            .as_ref()
            .filter(|l| !l.authoritative && l.hasher.complete())
            .map(|l| l.hasher.sizes.as_slice())
    }

    /// The provider confirmed every part's size: when they are the sizes
    /// hashed, the layout counts as reported (a disagreement becomes a
    /// mismatch). Returns whether they were.
    pub fn confirm_layout(&mut self, sizes: &[u64]) -> bool {
        match &mut self.layout {
            Some(l) if l.hasher.sizes == sizes => {
                l.authoritative = true;
                true
            }
            _ => false,
        }
    }

    /// Compares a composite (or multipart ETag) reference with the value
    /// computed over the part layout.
    fn composite_check(
        &self,
        name: String,
        kind: ReferenceKind,
        algorithm: ChecksumAlgorithm,
        expected: &str,
    ) -> Check {
        let mut out = Check {
            name,
            kind,
            expected: expected.to_owned(),
            actual: String::new(),
            outcome: Outcome::NotComparable,
            note: None,
        };
        if !self.part_algorithms.contains(&algorithm) {
            if self.layout.is_some() || self.part_algorithms.is_empty() {
                out.outcome = Outcome::NotComputed;
                out.note = Some(NOT_COMPUTED.into());
            } else {
                out.note = Some("the store did not report the part sizes".into());
            }
            return out;
        }
        let Some(l) = &self.layout else {
            out.note = Some(
                "the store did not report the part sizes, so the value cannot be computed".into(),
            );
            return out;
        };
        if !l.hasher.complete() {
            out.actual = format!("{} bytes, not the reported part layout", self.bytes);
            if l.authoritative {
                out.outcome = Outcome::Mismatch;
                out.note = Some("the restored size disagrees with the reported part sizes".into());
            } else {
                out.note = Some("the restored size does not fit the part sizes taken from the first and last parts".into());
            }
            return out;
        }
        let Some(actual) = l.hasher.composite(algorithm) else {
            return out;
        };
        out.actual = actual;
        if same_composite(&out.actual, expected) {
            out.outcome = Outcome::Match;
            if !l.authoritative {
                out.note = Some(
                    "part sizes from the first and last parts, confirmed by this value".into(),
                );
            }
        } else if l.authoritative {
            out.outcome = Outcome::Mismatch;
        } else {
            out.note = Some(
                "the value does not reproduce over part sizes taken from the first and last parts; every part's size is needed to tell a corruption from uneven parts"
                    .into(),
            );
        }
        out
    }
}

/// The note of a reference the policy left out.
const NOT_COMPUTED: &str =
    "left uncomputed by policy: a cheaper reference proves the same bytes (verify = \"thorough\" checks it)";

/// Whether a computed composite value (always `value-N`) equals a stored
/// one. Providers differ on whether they append `-N` to composite checksums
/// (S3's GetObjectAttributes may report the bare value with `ChecksumType`
/// COMPOSITE), so the suffix is compared only when both have it. Hex ETags
/// compare case-insensitively.
fn same_composite(actual: &str, expected: &str) -> bool {
    let split = |v: &str| match v.rsplit_once('-') {
        Some((h, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (h.to_owned(), Some(n.to_owned()))
        }
        _ => (v.to_owned(), None),
    };
    let (a, an) = split(actual);
    let (e, en) = split(expected);
    let counts_agree = match (an, en) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let values_agree = if hex(&a) && hex(&e) {
        a.eq_ignore_ascii_case(&e)
    } else {
        a == e
    };
    counts_agree && values_agree
}

fn not_computed(name: String, kind: ReferenceKind, expected: &str) -> Check {
    Check {
        name,
        kind,
        expected: expected.to_owned(),
        actual: String::new(),
        outcome: Outcome::NotComputed,
        note: Some(NOT_COMPUTED.into()),
    }
}

fn check(name: impl Into<String>, kind: ReferenceKind, expected: String, actual: String) -> Check {
    let outcome = if expected == actual {
        Outcome::Match
    } else {
        Outcome::Mismatch
    };
    Check {
        name: name.into(),
        kind,
        expected,
        actual,
        outcome,
        note: None,
    }
}

/// Compares the restored bytes with every reference that exists.
///
/// `baseline` is the ledger's first-seen record for this recovery point, if
/// any. `content_length` is what the restore response announced.
pub fn compare(
    candidate: &Candidate,
    attrs: &StoredAttributes,
    sse: Option<&str>,
    content_length: Option<u64>,
    digests: &Digests,
    baseline: Option<&Baseline>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let actual_size = digests.bytes.to_string();
    checks.push(check(
        "size.listing",
        ReferenceKind::Size,
        candidate.size.to_string(),
        actual_size.clone(),
    ));
    if let Some(s) = attrs.size {
        checks.push(check(
            "size.attributes",
            ReferenceKind::Size,
            s.to_string(),
            actual_size.clone(),
        ));
    }
    if let Some(s) = content_length {
        checks.push(check(
            "size.content_length",
            ReferenceKind::Size,
            s.to_string(),
            actual_size,
        ));
    }
    for c in &attrs.checksums {
        let name = c.name.clone();
        match c.scope {
            ChecksumScope::FullObject => {
                let mut ch = match digests.full_value(c.algorithm) {
                    Some(v) => check(
                        name,
                        ReferenceKind::ProviderChecksum,
                        c.value.clone(),
                        B64.encode(v),
                    ),
                    None => not_computed(name, ReferenceKind::ProviderChecksum, &c.value),
                };
                if ch.outcome != Outcome::NotComputed {
                    ch.note.clone_from(&c.note);
                }
                checks.push(ch);
            }
            ChecksumScope::Composite => {
                checks.push(digests.composite_check(
                    format!("{name}.composite"),
                    ReferenceKind::ProviderChecksum,
                    c.algorithm,
                    &c.value,
                ));
            }
        }
    }
    if let Some(etag) = &attrs.etag {
        if etag_is_md5(attrs, sse) {
            checks.push(match digests.full_value(ChecksumAlgorithm::Md5) {
                Some(v) => check(
                    "s3.etag",
                    ReferenceKind::Etag,
                    etag.to_ascii_lowercase(),
                    hex::encode(v),
                ),
                None => not_computed("s3.etag".into(), ReferenceKind::Etag, etag),
            });
        } else if etag_parts(attrs, sse).is_some() {
            checks.push(digests.composite_check(
                "s3.etag.multipart".into(),
                ReferenceKind::Etag,
                ChecksumAlgorithm::Md5,
                etag,
            ));
        }
    }
    if let Some(b) = baseline {
        let mut c = check(
            "baseline.sha256",
            ReferenceKind::Baseline,
            b.sha256.clone(),
            digests.sha256_hex.clone(),
        );
        c.note = Some(format!("first seen {}", b.first_seen));
        checks.push(c);
    }
    checks
}

/// The verdict for a completed restore: `mismatch` when any reference
/// disagrees, `verified` when at least one content reference (not just a size)
/// agrees, `no_reference` otherwise.
pub fn verdict(checks: &[Check]) -> Verdict {
    if checks.iter().any(|c| c.outcome == Outcome::Mismatch) {
        Verdict::Mismatch
    } else if checks
        .iter()
        .any(|c| c.outcome == Outcome::Match && c.kind != ReferenceKind::Size)
    {
        Verdict::Verified
    } else {
        Verdict::NoReference
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::StoredChecksum;

    fn candidate(size: u64) -> Candidate {
        Candidate {
            key: "k".into(),
            version_id: Some("v".into()),
            size,
            last_modified: chrono::DateTime::UNIX_EPOCH,
            is_latest: true,
            behind_delete_marker: false,
            ..Candidate::default()
        }
    }

    fn run(attrs: &StoredAttributes, data: &[u8], chunk: usize) -> Vec<Check> {
        run_with(attrs, data, chunk, VerifyPolicy::Thorough)
    }

    fn run_with(
        attrs: &StoredAttributes,
        data: &[u8],
        chunk: usize,
        policy: VerifyPolicy,
    ) -> Vec<Check> {
        let mut h = Hasher::plan(attrs, None, policy);
        for c in data.chunks(chunk) {
            h.update(c);
        }
        let d = h.finish();
        compare(
            &candidate(data.len() as u64),
            attrs,
            None,
            Some(data.len() as u64),
            &d,
            None,
        )
    }

    fn full(algorithm: ChecksumAlgorithm, value: &str) -> StoredChecksum {
        StoredChecksum {
            name: format!("s3.checksum.{algorithm}"),
            note: None,
            algorithm,
            scope: ChecksumScope::FullObject,
            value: value.into(),
        }
    }

    /// Standard check values of each CRC over "123456789" (CRC catalogue),
    /// encoded as S3 encodes them: base64 of the big-endian value.
    #[test]
    fn full_object_checksums_match_the_standard_check_values() {
        let enc = |v: &[u8]| B64.encode(v);
        let attrs = StoredAttributes {
            checksums: vec![
                full(
                    ChecksumAlgorithm::Crc32,
                    &enc(&0xCBF4_3926u32.to_be_bytes()),
                ),
                full(
                    ChecksumAlgorithm::Crc32c,
                    &enc(&0xE306_9283u32.to_be_bytes()),
                ),
                full(
                    ChecksumAlgorithm::Crc64Nvme,
                    &enc(&0xAE8B_1486_0A79_9888u64.to_be_bytes()),
                ),
                // sha1/sha256 of "123456789"
                full(
                    ChecksumAlgorithm::Sha1,
                    &enc(&hex::decode("f7c3bc1d808e04732adf679965ccc34ca7ae3441")
                        .unwrap_or_default()),
                ),
                full(
                    ChecksumAlgorithm::Sha256,
                    &enc(&hex::decode(
                        "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
                    )
                    .unwrap_or_default()),
                ),
            ],
            etag: Some("25f9e794323b453885f5181f1b624d0b".into()),
            size: Some(9),
            ..Default::default()
        };
        let checks = run(&attrs, b"123456789", 4);
        for c in &checks {
            assert_eq!(c.outcome, Outcome::Match, "{c:?}");
        }
        assert_eq!(checks.len(), 3 + 5 + 1);
        assert_eq!(verdict(&checks), Verdict::Verified);

        let corrupt = run(&attrs, b"123456780", 4);
        let failed: Vec<&str> = corrupt
            .iter()
            .filter(|c| c.outcome == Outcome::Mismatch)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed.len(), 6, "{failed:?}");
        assert_eq!(verdict(&corrupt), Verdict::Mismatch);

        // The efficient policy proves the bytes with the stored SHA-256 (no
        // extra hash) and lists every other reference as not computed.
        let checks = run_with(&attrs, b"123456789", 4, VerifyPolicy::Efficient);
        let outcome = |name: &str| {
            checks
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.outcome)
                .expect(name)
        };
        assert_eq!(outcome("s3.checksum.sha256"), Outcome::Match);
        for name in [
            "s3.checksum.crc32",
            "s3.checksum.crc32c",
            "s3.checksum.crc64nvme",
            "s3.checksum.sha1",
            "s3.etag",
        ] {
            assert_eq!(outcome(name), Outcome::NotComputed, "{name}");
        }
        assert_eq!(verdict(&checks), Verdict::Verified);
        let corrupt = run_with(&attrs, b"123456780", 4, VerifyPolicy::Efficient);
        assert_eq!(verdict(&corrupt), Verdict::Mismatch);
    }

    #[test]
    fn the_efficient_policy_hashes_the_cheapest_reference_and_md5_last() {
        let attrs = |checksums: Vec<StoredChecksum>, etag: &str| StoredAttributes {
            checksums,
            etag: Some(etag.into()),
            ..Default::default()
        };
        let md5_etag = "25f9e794323b453885f5181f1b624d0b";
        // AWS default: MD5 ETag + CRC64NVME: CRC64NVME only, no MD5.
        let p = Plan::new(
            &attrs(vec![full(ChecksumAlgorithm::Crc64Nvme, "x")], md5_etag),
            None,
            VerifyPolicy::Efficient,
        );
        assert_eq!(p.full, [ChecksumAlgorithm::Crc64Nvme]);
        assert!(p.parts.is_empty());
        // Stored SHA-256: nothing besides the baseline hash.
        let p = Plan::new(
            &attrs(
                vec![
                    full(ChecksumAlgorithm::Sha256, "x"),
                    full(ChecksumAlgorithm::Crc32, "y"),
                ],
                md5_etag,
            ),
            None,
            VerifyPolicy::Efficient,
        );
        assert_eq!(p, Plan::default());
        // ETag only: MD5.
        let p = Plan::new(&attrs(vec![], md5_etag), None, VerifyPolicy::Efficient);
        assert_eq!(p.full, [ChecksumAlgorithm::Md5]);
        // SSE-KMS: the ETag is no MD5, nothing to hash but the baseline.
        let p = Plan::new(
            &attrs(vec![], md5_etag),
            Some("aws:kms"),
            VerifyPolicy::Efficient,
        );
        assert_eq!(p, Plan::default());
        // Multipart ETag only: per-part MD5, which needs the part sizes.
        let p = Plan::new(
            &attrs(vec![], &format!("{md5_etag}-3")),
            None,
            VerifyPolicy::Efficient,
        );
        assert_eq!(p.parts, [ChecksumAlgorithm::Md5]);
        assert!(p.needs_part_sizes());
        // Multipart with a full-object CRC64NVME: no part sizes needed.
        let p = Plan::new(
            &attrs(
                vec![full(ChecksumAlgorithm::Crc64Nvme, "x")],
                &format!("{md5_etag}-3"),
            ),
            None,
            VerifyPolicy::Efficient,
        );
        assert!(!p.needs_part_sizes());
        // Thorough: everything.
        let p = Plan::new(
            &attrs(vec![full(ChecksumAlgorithm::Crc64Nvme, "x")], md5_etag),
            None,
            VerifyPolicy::Thorough,
        );
        assert_eq!(
            p.full,
            [ChecksumAlgorithm::Crc64Nvme, ChecksumAlgorithm::Md5]
        );
    }

    /// A composite SHA-256 and a multipart ETag for three parts of 5, 5 and 1
    /// bytes (b"aaaaa", b"bbbbb", b"c"). The provider side here is a response
    /// built from the S3 User Guide ("Checking object integrity": the checksum
    /// of the concatenated part checksums, then `-N`), because the local S3
    /// server reports no part sizes. Expected values were computed
    /// independently with Python's hashlib:
    /// `md5(md5(p1)+md5(p2)+md5(p3)).hexdigest()+"-3"` and
    /// `b64(sha256(sha256(p1)+sha256(p2)+sha256(p3)))+"-3"`.
    #[test]
    fn composite_checksums_and_multipart_etags_follow_the_part_layout() {
        let data = b"aaaaabbbbbc";
        let mut attrs = StoredAttributes {
            size: Some(11),
            etag: Some("7f6a87eb8f486f0176013cf025601f57-3".into()),
            checksums: vec![StoredChecksum {
                name: "s3.checksum.sha256".into(),
                note: None,
                algorithm: ChecksumAlgorithm::Sha256,
                scope: ChecksumScope::Composite,
                value: "0W2c7p+6tw5AoTujakVNsyvPh5crkL2ks8MamfEouu0=-3".into(),
            }],
            part_sizes: Some(vec![5, 5, 1]),
            parts_count: Some(3),
            ..Default::default()
        };
        let checks = run(&attrs, data, 3);
        assert!(
            checks.iter().all(|c| c.outcome == Outcome::Match),
            "{checks:#?}"
        );
        assert!(checks
            .iter()
            .any(|c| c.name == "s3.checksum.sha256.composite"));
        assert!(checks.iter().any(|c| c.name == "s3.etag.multipart"));

        // Same bytes, reported layout 6+4+1: the provider vouched for it, so a
        // disagreement is a mismatch.
        attrs.part_sizes = Some(vec![6, 4, 1]);
        let checks = run(&attrs, data, 3);
        assert_eq!(verdict(&checks), Verdict::Mismatch);
    }

    #[test]
    fn composite_values_compare_with_or_without_the_part_count() {
        assert!(same_composite("+8WSsQ==-2", "+8WSsQ=="));
        assert!(same_composite("+8WSsQ==-2", "+8WSsQ==-2"));
        assert!(!same_composite("+8WSsQ==-2", "+8WSsQ==-3"));
        assert!(!same_composite("+8WSsQ==-2", "+8WSsq=="));
        assert!(same_composite(
            "88fc978485924ccd87ceb19c90195b35-2",
            "88FC978485924CCD87CEB19C90195B35-2"
        ));
    }

    /// 11 MiB in parts of 5, 5 and 1 MiB, with the multipart ETag of that
    /// layout (computed independently, part by part, below).
    fn multipart(data: &[u8]) -> StoredAttributes {
        let mut parts = Vec::new();
        for p in data.chunks(5 << 20) {
            parts.extend_from_slice(&Md5::digest(p));
        }
        StoredAttributes {
            size: Some(data.len() as u64),
            etag: Some(format!("{}-3", hex::encode(Md5::digest(&parts)))),
            part_sizes: Some(vec![5 << 20, 5 << 20, 1 << 20]),
            part_sizes_from: Some(PartSizesFrom::FirstAndLast),
            parts_count: Some(3),
            ..Default::default()
        }
    }

    #[test]
    fn a_layout_from_the_first_and_last_parts_is_no_ground_for_a_mismatch_until_confirmed() {
        let data: Vec<u8> = (0..(11u32 << 20)).map(|i| (i % 251) as u8).collect();
        let attrs = multipart(&data);
        let mut corrupt = data.clone();
        corrupt[6 << 20] ^= 1;
        let mut h = Hasher::plan(&attrs, None, VerifyPolicy::Efficient);
        h.update(&corrupt);
        let mut d = h.finish();
        let checks = compare(&candidate(data.len() as u64), &attrs, None, None, &d, None);
        let etag = checks
            .iter()
            .find(|c| c.name == "s3.etag.multipart")
            .expect("etag check");
        assert_eq!(etag.outcome, Outcome::NotComparable, "{etag:?}");
        assert_eq!(verdict(&checks), Verdict::NoReference);
        assert_eq!(
            d.unconfirmed_layout(),
            Some(&[5 << 20, 5 << 20, 1 << 20][..])
        );

        // Other sizes confirmed: still not comparable.
        assert!(!d.confirm_layout(&[6 << 20, 4 << 20, 1 << 20]));
        // The same sizes confirmed part by part: now a mismatch.
        assert!(d.confirm_layout(&[5 << 20, 5 << 20, 1 << 20]));
        let checks = compare(&candidate(data.len() as u64), &attrs, None, None, &d, None);
        assert_eq!(verdict(&checks), Verdict::Mismatch);
    }

    #[test]
    fn a_layout_from_the_first_and_last_parts_that_reproduces_the_etag_verifies() {
        let data: Vec<u8> = (0..(11u32 << 20)).map(|i| (i % 251) as u8).collect();
        let checks = run_with(&multipart(&data), &data, 100_000, VerifyPolicy::Efficient);
        let c = checks
            .iter()
            .find(|c| c.name == "s3.etag.multipart")
            .expect("etag check");
        assert_eq!(c.outcome, Outcome::Match, "{c:?}");
        assert!(c.note.as_deref().unwrap_or_default().contains("confirmed"));
        assert_eq!(verdict(&checks), Verdict::Verified);
    }

    #[test]
    fn a_multipart_etag_without_part_sizes_is_not_comparable() {
        let data = vec![7u8; 11 << 20];
        let attrs = StoredAttributes {
            size: Some(data.len() as u64),
            etag: Some("00000000000000000000000000000000-3".into()),
            ..Default::default()
        };
        let checks = run(&attrs, &data, 1 << 16);
        let etag = checks
            .iter()
            .find(|c| c.name == "s3.etag.multipart")
            .expect("etag check");
        assert_eq!(etag.outcome, Outcome::NotComparable, "{etag:?}");
        assert_eq!(verdict(&checks), Verdict::NoReference);
    }

    #[test]
    fn size_alone_is_no_reference_and_a_baseline_is_one() {
        let attrs = StoredAttributes {
            size: Some(3),
            ..Default::default()
        };
        assert_eq!(verdict(&run(&attrs, b"abc", 2)), Verdict::NoReference);
        let mut h = Hasher::plan(&attrs, None, VerifyPolicy::Efficient);
        h.update(b"abc");
        let d = h.finish();
        let b = Baseline {
            sha256: d.sha256_hex.clone(),
            size: 3,
            first_seen: "then".into(),
        };
        let checks = compare(&candidate(3), &attrs, None, None, &d, Some(&b));
        assert_eq!(verdict(&checks), Verdict::Verified);
        let other = Baseline {
            sha256: "00".into(),
            ..b
        };
        let checks = compare(&candidate(3), &attrs, None, None, &d, Some(&other));
        assert_eq!(verdict(&checks), Verdict::Mismatch);
    }

    #[test]
    fn sse_kms_etags_are_not_treated_as_md5() {
        let attrs = StoredAttributes {
            size: Some(3),
            etag: Some("0123456789abcdef0123456789abcdef".into()),
            ..Default::default()
        };
        let mut h = Hasher::plan(&attrs, Some("aws:kms"), VerifyPolicy::Thorough);
        h.update(b"abc");
        let d = h.finish();
        let checks = compare(&candidate(3), &attrs, Some("aws:kms"), None, &d, None);
        assert!(
            checks.iter().all(|c| c.kind == ReferenceKind::Size),
            "{checks:?}"
        );
    }
}
