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

pub mod content;
mod hash;
pub mod identity;
pub mod protection;

pub use crate::config::VerifyPolicy;
use crate::source::{Candidate, ChecksumAlgorithm, ChecksumScope, PartSizesFrom, StoredAttributes};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hash::{etag_is_md5, etag_parts};
pub use hash::{Digests, Hasher, Plan};
use md5::Md5;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt;

/// The outcome of one restore, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
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

    /// The verdict a stored word names.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What kind of reference a check compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// What a response said about which object it is (version id, ETag,
    /// size, checksum algorithm and type, Content-MD5) against the listing
    /// ([`identity`]); a disagreement is a mismatch, agreement never makes a
    /// verdict of `verified`.
    Identity,
}

impl ReferenceKind {
    /// Whether a match of this kind proves the bytes.
    pub fn proves_content(self) -> bool {
        !matches!(self, ReferenceKind::Size | ReferenceKind::Identity)
    }
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
/// agrees (never a size or an identity field), `no_reference` otherwise.
pub fn verdict(checks: &[Check]) -> Verdict {
    if checks.iter().any(|c| c.outcome == Outcome::Mismatch) {
        Verdict::Mismatch
    } else if checks
        .iter()
        .any(|c| c.outcome == Outcome::Match && c.kind.proves_content())
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
        // The three sizes and both composite references.
        assert_eq!(checks.len(), 5, "{checks:#?}");
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
        // The listed and stored sizes only: no ETag check at all.
        assert_eq!(checks.len(), 2, "{checks:?}");
        assert!(
            checks.iter().all(|c| c.kind == ReferenceKind::Size),
            "{checks:?}"
        );
        assert_eq!(verdict(&checks), Verdict::NoReference);
    }
}
