//! Binding a response to the recovery point that was asked for.
//!
//! A checksum or ETag that arrives in the same response as the bytes
//! describes whatever the store (or a gateway, or a caching proxy in front
//! of it) chose to serve. It is independent of those bytes only once the
//! response's own identity — the version id it names, its ETag, its size,
//! its checksum algorithm and type, Azure's Content-MD5 — agrees with what
//! the listing, an earlier and separate answer, said about the recovery
//! point. So every response is compared with the listing first:
//!
//! - a field both state and that differs is an `identity.*` check with
//!   outcome `mismatch` (the verdict is then `mismatch`: the store served
//!   another object than the one it listed), and the references the response
//!   carried become `not_comparable`: they describe the other object;
//! - when the response states nothing to bind it by (no version id, no ETag,
//!   no Content-MD5 where the listing has one), its references are
//!   `not_comparable` too;
//! - in every case the listing's own references (an MD5-shaped single-part
//!   ETag, Azure's listed Content-MD5) take the place of what the response
//!   did not carry, so an independent reference that existed is never lost.
//!
//! Identity checks never make a verdict of `verified`: they prove which
//! object answered, not its bytes. Pure: no I/O.

use super::{Check, Outcome, ReferenceKind};
use crate::source::{
    Candidate, ChecksumAlgorithm, ChecksumScope, StoredAttributes, StoredChecksum,
};

/// Whether a response's identity agrees with the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Every field both stated agreed, and at least one that names the
    /// object (version id, ETag, Content-MD5) was among them.
    Agrees,
    /// A field both stated differed.
    Disagrees,
    /// Nothing that names the object could be compared.
    Unbound,
}

/// The outcome of binding one response to the listing.
#[derive(Debug, Clone)]
pub struct Bound {
    pub binding: Binding,
    /// The `identity.*` comparisons made (matches and mismatches).
    pub checks: Vec<Check>,
    /// The references to compare the bytes with: the response's when it is
    /// bound, completed with the listing's where it lacked one; the
    /// listing's alone otherwise.
    pub references: StoredAttributes,
    /// The response's own references set aside because it was not bound,
    /// as `not_comparable` checks that say why.
    pub set_aside: Vec<Check>,
}

/// What to call the fields of one response in check names: `identity` for
/// the response that carried the bytes, `identity.attributes` for a
/// metadata response read before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    Body,
    Attributes,
}

impl Responder {
    fn prefix(self) -> &'static str {
        match self {
            Responder::Body => "identity",
            Responder::Attributes => "identity.attributes",
        }
    }
}

/// S3 names the unversioned object's version `null`.
fn same_version(listed: Option<&str>, served: &str) -> bool {
    listed.unwrap_or("null") == served
}

fn identity_check(
    who: Responder,
    field: &str,
    expected: String,
    actual: String,
    equal: bool,
) -> Check {
    Check {
        name: format!("{}.{field}", who.prefix()),
        kind: ReferenceKind::Identity,
        note: (!equal).then(|| {
            format!(
                "the store served a different object than it listed: the listing said {field} {expected}, the response {actual}"
            )
        }),
        expected,
        actual,
        outcome: if equal {
            Outcome::Match
        } else {
            Outcome::Mismatch
        },
    }
}

fn algorithm_names(a: &[ChecksumAlgorithm]) -> String {
    let mut v: Vec<String> = a.iter().map(ToString::to_string).collect();
    v.sort();
    v.dedup();
    v.join(",")
}

fn scope_name(s: ChecksumScope) -> &'static str {
    match s {
        ChecksumScope::FullObject => "full_object",
        ChecksumScope::Composite => "composite",
    }
}

/// Compares what a response said about itself with the listing's
/// `listed` entry: the fields both state, each as an `identity.*` check.
/// `content_length` is the response's declared length when it carried the
/// bytes (its `size` is used otherwise).
pub fn identity_checks(
    who: Responder,
    listed: &Candidate,
    served: &StoredAttributes,
    content_length: Option<u64>,
) -> (Vec<Check>, bool) {
    let mut checks = Vec::new();
    // Whether a field that names the object was compared.
    let mut named = false;
    // An Azure snapshot is addressed by its time, which no response header
    // repeats; the version id a snapshot read returns is the base blob's.
    if listed.snapshot.is_none() {
        if let Some(v) = served.version_id.as_deref() {
            let listed_v = listed.version_id.as_deref();
            checks.push(identity_check(
                who,
                "version_id",
                listed_v.unwrap_or("null").to_owned(),
                v.to_owned(),
                same_version(listed_v, v),
            ));
            named = true;
        }
    }
    if let (Some(l), Some(s)) = (listed.etag.as_deref(), served.etag.as_deref()) {
        checks.push(identity_check(
            who,
            "etag",
            l.to_owned(),
            s.to_owned(),
            l.trim_matches('"')
                .eq_ignore_ascii_case(s.trim_matches('"')),
        ));
        named = true;
    }
    if let Some(l) = listed.content_md5.as_deref() {
        if let Some(s) = served
            .checksums
            .iter()
            .find(|c| c.algorithm == ChecksumAlgorithm::Md5 && c.scope == ChecksumScope::FullObject)
        {
            checks.push(identity_check(
                who,
                "content_md5",
                l.to_owned(),
                s.value.clone(),
                l == s.value,
            ));
            named = true;
        }
    }
    if let Some(size) = served.size.or(content_length) {
        checks.push(identity_check(
            who,
            "size",
            listed.size.to_string(),
            size.to_string(),
            listed.size == size,
        ));
    }
    let served_algorithms: Vec<ChecksumAlgorithm> = served
        .checksums
        .iter()
        .filter(|c| c.name.starts_with("s3."))
        .map(|c| c.algorithm)
        .collect();
    if !listed.checksum_algorithms.is_empty() && !served_algorithms.is_empty() {
        let (l, s) = (
            algorithm_names(&listed.checksum_algorithms),
            algorithm_names(&served_algorithms),
        );
        let equal = l == s;
        checks.push(identity_check(who, "checksum_algorithm", l, s, equal));
    }
    if let (Some(l), Some(s)) = (listed.checksum_type, served.checksum_type) {
        checks.push(identity_check(
            who,
            "checksum_type",
            scope_name(l).to_owned(),
            scope_name(s).to_owned(),
            l == s,
        ));
    }
    (checks, named)
}

/// One check for a response whose every compared field agreed (`identity`
/// or `identity.attributes`, expected and actual listing the fields), so
/// that evidence of the common case stays small; the checks as they are
/// when any field disagreed (each field then says what it was).
pub fn compact(who: Responder, checks: Vec<Check>) -> Vec<Check> {
    if checks.is_empty() || checks.iter().any(|c| c.outcome != Outcome::Match) {
        return checks;
    }
    let field = |c: &Check| c.name.rsplit('.').next().unwrap_or_default().to_owned();
    let join = |value: &dyn Fn(&Check) -> &str| {
        checks
            .iter()
            .map(|c| format!("{} {}", field(c), value(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![Check {
        name: who.prefix().to_owned(),
        kind: ReferenceKind::Identity,
        expected: join(&|c| c.expected.as_str()),
        actual: join(&|c| c.actual.as_str()),
        outcome: Outcome::Match,
        note: None,
    }]
}

/// The references the listing itself gives for `listed`, independent of
/// any later response: its ETag (kept as S3 lists it; whether it is an MD5
/// is decided with the response's encryption) and Azure's listed
/// Content-MD5.
pub fn listed_references(listed: &Candidate) -> StoredAttributes {
    let mut refs = StoredAttributes {
        etag: listed.etag.clone().filter(|_| listed.content_md5.is_none()),
        storage_class: listed.storage_class.clone(),
        ..StoredAttributes::default()
    };
    if let Some(md5) = &listed.content_md5 {
        refs.checksums
            .push(StoredChecksum::azure_content_md5(md5.clone()));
    }
    refs
}

/// The references `served` carried that count for nothing because it was
/// not bound to the listing (`binding` says why), as `not_comparable`
/// checks named `….response`; what the listing itself states is not
/// repeated.
fn set_aside(
    binding: Binding,
    listed: &Candidate,
    served: &StoredAttributes,
    fallback: &StoredAttributes,
) -> Vec<Check> {
    let why = match binding {
        Binding::Disagrees => {
            "it arrived with a response that names another object than the listing"
        }
        _ => {
            "it arrived with a response that names no version id or ETag to bind it to the listing"
        }
    };
    let aside = |name: &str, expected: &str| Check {
        name: name.to_owned(),
        kind: if name.contains("etag") {
            ReferenceKind::Etag
        } else {
            ReferenceKind::ProviderChecksum
        },
        expected: expected.to_owned(),
        actual: String::new(),
        outcome: Outcome::NotComparable,
        note: Some(format!("not a reference for this recovery point: {why}")),
    };
    let mut out: Vec<Check> = served
        .checksums
        .iter()
        .filter(|c| !fallback.checksums.iter().any(|f| f.value == c.value))
        .map(|c| aside(&format!("{}.response", c.name), &c.value))
        .collect();
    if let Some(e) = served
        .etag
        .as_deref()
        .filter(|e| fallback.etag.as_deref() != Some(*e))
    {
        if listed.content_md5.is_none() {
            out.push(aside("s3.etag.response", e));
        }
    }
    out
}

/// Binds a response to the listing and settles the references the bytes
/// are compared with (see the module docs).
pub fn bind(
    who: Responder,
    listed: &Candidate,
    served: StoredAttributes,
    content_length: Option<u64>,
) -> Bound {
    let (checks, named) = identity_checks(who, listed, &served, content_length);
    let binding = if checks.iter().any(|c| c.outcome == Outcome::Mismatch) {
        Binding::Disagrees
    } else if named {
        Binding::Agrees
    } else {
        Binding::Unbound
    };
    let checks = compact(who, checks);
    let fallback = listed_references(listed);
    if binding == Binding::Agrees {
        let mut references = served;
        if references.etag.is_none() {
            references.etag = fallback.etag;
            if references.parts_count.is_none() {
                references.parts_count = references
                    .etag
                    .as_deref()
                    .and_then(|e| e.rsplit_once('-'))
                    .and_then(|(_, n)| n.parse().ok());
            }
        }
        for c in fallback.checksums {
            if !references
                .checksums
                .iter()
                .any(|r| r.algorithm == c.algorithm && r.scope == c.scope)
            {
                references.checksums.push(c);
            }
        }
        return Bound {
            binding,
            checks,
            references,
            set_aside: Vec::new(),
        };
    }
    let set_aside = set_aside(binding, listed, &served, &fallback);
    // What the response says of the object's storage, encryption and lock
    // still describes the store's answer; the references are the listing's.
    let references = StoredAttributes {
        etag: fallback.etag,
        checksums: fallback.checksums,
        parts_count: listed
            .etag
            .as_deref()
            .and_then(|e| e.rsplit_once('-'))
            .and_then(|(_, n)| n.parse().ok()),
        storage_class: served.storage_class.or(fallback.storage_class),
        server_side_encryption: served.server_side_encryption,
        etag_not_md5: served.etag_not_md5,
        archived: served.archived,
        lock: served.lock,
        ..StoredAttributes::default()
    };
    Bound {
        binding,
        checks,
        references,
        set_aside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Candidate {
        Candidate {
            key: "k".into(),
            version_id: Some("B".into()),
            size: 3,
            etag: Some("900150983cd24fb0d6963f7d28e17f72".into()),
            checksum_algorithms: vec![ChecksumAlgorithm::Crc64Nvme],
            checksum_type: Some(ChecksumScope::FullObject),
            ..Candidate::default()
        }
    }

    fn crc(value: &str) -> StoredChecksum {
        StoredChecksum {
            name: "s3.checksum.crc64nvme".into(),
            note: None,
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            scope: ChecksumScope::FullObject,
            value: value.into(),
        }
    }

    fn served(version: &str, etag: &str) -> StoredAttributes {
        StoredAttributes {
            version_id: Some(version.into()),
            etag: Some(etag.into()),
            checksums: vec![crc("AAAA")],
            checksum_type: Some(ChecksumScope::FullObject),
            ..StoredAttributes::default()
        }
    }

    #[test]
    fn a_response_that_agrees_keeps_its_references() {
        let b = bind(
            Responder::Body,
            &listed(),
            served("B", "900150983cd24fb0d6963f7d28e17f72"),
            Some(3),
        );
        assert_eq!(b.binding, Binding::Agrees);
        // Agreement is one check listing every field compared.
        assert_eq!(b.checks.len(), 1, "{:?}", b.checks);
        assert_eq!(b.checks[0].name, "identity");
        assert_eq!(b.checks[0].outcome, Outcome::Match);
        assert_eq!(
            b.checks[0].expected,
            "version_id B, etag 900150983cd24fb0d6963f7d28e17f72, size 3, checksum_algorithm crc64nvme, checksum_type full_object"
        );
        assert_eq!(b.checks[0].expected, b.checks[0].actual);
        assert_eq!(b.references.checksums, vec![crc("AAAA")]);
        assert!(b.set_aside.is_empty());
    }

    /// Another version of the same key, served with its own headers and the
    /// same size: its checksum describes it, not the version asked for.
    #[test]
    fn another_version_with_its_own_headers_is_named_and_its_references_set_aside() {
        let b = bind(
            Responder::Body,
            &listed(),
            served("A", "0cc175b9c0f1b6a831c399e269772661"),
            Some(3),
        );
        assert_eq!(b.binding, Binding::Disagrees);
        let failed: Vec<&str> = b
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Mismatch)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, ["identity.version_id", "identity.etag"]);
        let note = b.checks[0].note.as_deref().unwrap_or_default();
        assert!(note.contains("different object than it listed"), "{note}");
        // The listing's ETag is the reference; the response's are set aside.
        assert_eq!(
            b.references.etag.as_deref(),
            Some("900150983cd24fb0d6963f7d28e17f72")
        );
        assert!(b.references.checksums.is_empty());
        let aside: Vec<&str> = b.set_aside.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            aside,
            ["s3.checksum.crc64nvme.response", "s3.etag.response"]
        );
        assert!(b
            .set_aside
            .iter()
            .all(|c| c.outcome == Outcome::NotComparable));
    }

    #[test]
    fn a_response_without_references_falls_back_on_the_listings_etag() {
        let bare = StoredAttributes {
            version_id: Some("B".into()),
            ..StoredAttributes::default()
        };
        let b = bind(Responder::Body, &listed(), bare, Some(3));
        assert_eq!(b.binding, Binding::Agrees);
        assert_eq!(
            b.references.etag.as_deref(),
            Some("900150983cd24fb0d6963f7d28e17f72")
        );
        // Nothing named the object at all: unbound, and still the listing's
        // ETag is the reference.
        let b = bind(
            Responder::Body,
            &listed(),
            StoredAttributes::default(),
            Some(3),
        );
        assert_eq!(b.binding, Binding::Unbound);
        assert!(b.references.etag.is_some());
    }

    #[test]
    fn unversioned_objects_are_the_null_version_and_sizes_and_algorithms_bind() {
        let mut l = listed();
        l.version_id = None;
        let (checks, named) = identity_checks(
            Responder::Body,
            &l,
            &served("null", "900150983cd24fb0d6963f7d28e17f72"),
            Some(4),
        );
        assert!(named);
        let outcome = |n: &str| checks.iter().find(|c| c.name == n).map(|c| c.outcome);
        assert_eq!(outcome("identity.version_id"), Some(Outcome::Match));
        assert_eq!(outcome("identity.size"), Some(Outcome::Mismatch));
        let mut other = served("null", "900150983cd24fb0d6963f7d28e17f72");
        other.checksums[0].algorithm = ChecksumAlgorithm::Crc32;
        other.checksum_type = Some(ChecksumScope::Composite);
        let (checks, _) = identity_checks(Responder::Attributes, &l, &other, None);
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.outcome == Outcome::Mismatch)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "identity.attributes.checksum_algorithm",
                "identity.attributes.checksum_type"
            ]
        );
    }

    #[test]
    fn azure_binds_by_content_md5_and_the_listed_md5_is_the_reference() {
        let l = Candidate {
            key: "b".into(),
            version_id: Some("2026-01-01T00:00:00.0000000Z".into()),
            size: 3,
            content_md5: Some("kAFQmDzST7DWlj99KOF/cg==".into()),
            ..Candidate::default()
        };
        let same = StoredAttributes {
            checksums: vec![StoredChecksum::azure_content_md5(
                "kAFQmDzST7DWlj99KOF/cg==".into(),
            )],
            ..StoredAttributes::default()
        };
        let b = bind(Responder::Body, &l, same, Some(3));
        assert_eq!(b.binding, Binding::Agrees);
        assert_eq!(b.references.checksums.len(), 1);
        let other = StoredAttributes {
            checksums: vec![StoredChecksum::azure_content_md5(
                "DMF1ucDxtqgxw5niaXcmYQ==".into(),
            )],
            ..StoredAttributes::default()
        };
        let b = bind(Responder::Body, &l, other, Some(3));
        assert_eq!(b.binding, Binding::Disagrees);
        assert_eq!(
            b.references.checksums[0].value, "kAFQmDzST7DWlj99KOF/cg==",
            "the listing's MD5 is the reference"
        );
        // Not a response reference: the response's MD5 is the listed one's
        // disagreement, already an identity check.
        assert_eq!(b.set_aside.len(), 1);
    }
}
