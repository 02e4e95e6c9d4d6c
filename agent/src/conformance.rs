//! What every source must do, checked the same way on every store: the
//! in-memory store in the unit tests, and moto, SeaweedFS and Azurite in
//! the integration tests (`tests/conformance.rs`). A new provider passes
//! this before anything else is tested on it.
//!
//! Given what a test wrote under `prefix`, the source must:
//!
//! 1. list every version written, each once, with its size, and exactly
//!    one current version per key;
//! 2. answer a metadata request for each listed recovery point with the
//!    listed size and ETag;
//! 3. restore each listed recovery point to bytes written under its key,
//!    of the listed size, in a response whose identity agrees with the
//!    listing, and that no reference contradicts (`verified`, or
//!    `no_reference` only where the caller says the store keeps none);
//! 4. answer a read of a key that does not exist with `not_found`;
//! 5. refuse, as a configuration error, what its kind declares it cannot do
//!    ([`crate::config::Capabilities`]).

use crate::config::VerifyPolicy;
use crate::source::{Candidate, ErrorClass, ListItem, RecoverySource};
use crate::verify::identity::{self, Responder};
use crate::verify::{compare, verdict, Hasher, Outcome, Verdict};
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// What a test wrote: the bodies of each key, in the order written.
#[derive(Debug, Default)]
pub struct Written {
    pub prefix: String,
    pub bodies: BTreeMap<String, Vec<Vec<u8>>>,
    /// Every restored recovery point must be `verified` (the store keeps
    /// a reference for each); otherwise `no_reference` is accepted too.
    pub expect_verified: bool,
}

impl Written {
    /// Notes a body written at `key` (a new version or snapshot of it).
    pub fn wrote(&mut self, key: &str, body: &[u8]) {
        self.bodies
            .entry(key.to_owned())
            .or_default()
            .push(body.to_vec());
    }
}

/// Checks `source` against what was written; every broken promise, named.
pub async fn check(source: &dyn RecoverySource, written: &Written) -> Vec<String> {
    let mut problems = Vec::new();
    let listed = match listed(source, written).await {
        Ok(l) => l,
        Err(e) => return vec![format!("the listing failed: {e}")],
    };
    for (key, bodies) in &written.bodies {
        let versions: Vec<&Candidate> = listed.iter().filter(|c| &c.key == key).collect();
        let distinct: std::collections::BTreeSet<String> =
            versions.iter().map(|c| c.point_id()).collect();
        if distinct.len() != versions.len() {
            problems.push(format!("{key}: a recovery point is listed twice"));
        }
        if versions.len() < bodies.len() {
            problems.push(format!(
                "{key}: {} recovery point(s) listed, {} written",
                versions.len(),
                bodies.len()
            ));
        }
        if versions.iter().filter(|c| c.is_latest).count() != 1 {
            problems.push(format!("{key}: not exactly one current version"));
        }
        let mut restored = Vec::new();
        for c in versions {
            match point(source, c, bodies, written.expect_verified).await {
                Ok(sha) => restored.push(sha),
                Err(e) => problems.push(format!("{key} {}: {e}", c.point_id())),
            }
        }
        for (i, b) in bodies.iter().enumerate() {
            if !restored.contains(&sha256(b)) {
                problems.push(format!("{key}: body #{i} written was never restored"));
            }
        }
    }
    let absent = Candidate {
        key: format!("{}conformance-absent", written.prefix),
        version_id: listed.first().and_then(|c| c.version_id.clone()),
        ..Candidate::default()
    };
    match source.restore(&absent).await {
        Err(e) if e.class == ErrorClass::NotFound => {}
        Err(e) => problems.push(format!("a missing key is {} ({e}), not not_found", e.class)),
        Ok(_) => problems.push("a missing key was restored".into()),
    }
    if let Some(c) = listed.first() {
        problems.extend(declared(source, c).await);
    }
    problems
}

/// What the source's kind declares it cannot do, it refuses as a
/// configuration error (never as a fault of the backup).
async fn declared(source: &dyn RecoverySource, c: &Candidate) -> Vec<String> {
    let kind = source.describe().kind;
    let can = kind.capabilities();
    let mut problems = Vec::new();
    if !can.undelete {
        match source.undelete(c).await {
            Err(e) if e.class == ErrorClass::Config => {}
            other => problems.push(format!(
                "{kind} declares no undelete, but undelete answered {other:?}"
            )),
        }
    }
    problems
}

async fn listed(source: &dyn RecoverySource, w: &Written) -> Result<Vec<Candidate>, String> {
    let mut out = Vec::new();
    let mut list = source.list();
    while let Some(item) = list.next().await {
        if let ListItem::Version(c) = item.map_err(|e| e.to_string())? {
            if c.key.starts_with(&w.prefix) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Checks one recovery point; the SHA-256 of its restored bytes.
async fn point(
    source: &dyn RecoverySource,
    c: &Candidate,
    bodies: &[Vec<u8>],
    expect_verified: bool,
) -> Result<String, String> {
    let attrs = source.attributes(c).await.map_err(|e| e.to_string())?;
    if attrs.size.is_some_and(|s| s != c.size) {
        return Err(format!(
            "metadata says {:?} bytes, listed {}",
            attrs.size, c.size
        ));
    }
    if let (Some(a), Some(l)) = (&attrs.etag, &c.etag) {
        if a != l {
            return Err(format!("metadata says ETag {a}, listed {l}"));
        }
    }
    // The one call a drill makes.
    let bind = |a: &crate::source::StoredAttributes, first: bool, len: Option<u64>| {
        let who = if first {
            Responder::Attributes
        } else {
            Responder::Body
        };
        identity::bind(who, c, a.clone(), len).references
    };
    let needs_part_sizes = |a: &crate::source::StoredAttributes, sse: Option<&str>| {
        crate::verify::Plan::new(a, sse, VerifyPolicy::Thorough).needs_part_sizes()
    };
    let restoration = source
        .restore_point(crate::source::RestoreRequest {
            point: c,
            bytes_from: None,
            references_first: false,
            bind: &bind,
            needs_part_sizes: &needs_part_sizes,
            lock_policy: false,
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut body = restoration
        .body
        .ok_or("the store gave no bytes for a recovery point it listed")?;
    let served = body.attributes.take().unwrap_or_default();
    let refs = restoration.references;
    let bound = match restoration.first {
        Some(first) => {
            let pre = identity::bind(Responder::Attributes, c, first, None);
            if let Some(x) = pre.checks.iter().find(|x| x.outcome == Outcome::Mismatch) {
                return Err(format!("the metadata response is another object: {x:?}"));
            }
            identity::identity_checks(Responder::Body, c, &served, body.content_length).0
        }
        None => identity::bind(Responder::Body, c, served, body.content_length).checks,
    };
    if let Some(x) = bound.iter().find(|x| x.outcome == Outcome::Mismatch) {
        return Err(format!("the response is another object: {x:?}"));
    }
    let sse = body.server_side_encryption.clone();
    let mut hasher = Hasher::plan(&refs, sse.as_deref(), VerifyPolicy::Thorough);
    let mut bytes = Vec::new();
    while let Some(chunk) = body.body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        hasher.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    if bytes.len() as u64 != c.size {
        return Err(format!("restored {} bytes, listed {}", bytes.len(), c.size));
    }
    if !bodies.contains(&bytes) {
        return Err("the restored bytes are none of those written".into());
    }
    let digests = hasher.finish();
    let checks = compare(
        c,
        &refs,
        sse.as_deref(),
        body.content_length,
        &digests,
        None,
    );
    match verdict(&checks) {
        Verdict::Verified => {}
        Verdict::NoReference if !expect_verified => {}
        v => return Err(format!("the intact bytes are {v:?}: {checks:?}")),
    }
    Ok(sha256(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::memory::{Fault, MemoryStore};

    fn seeded() -> (MemoryStore, Written) {
        let store = MemoryStore::new("m");
        let mut w = Written {
            expect_verified: true,
            ..Written::default()
        };
        for (key, body) in [("a", &b"one"[..]), ("a", b"two"), ("b", &[9u8; 100_000])] {
            store.put(key, body.to_vec());
            w.wrote(key, body);
        }
        (store, w)
    }

    #[tokio::test]
    async fn the_memory_store_conforms() {
        let (store, w) = seeded();
        let problems = check(&store, &w).await;
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// The suite catches what it promises to: corrupted bytes and a store
    /// that serves another version.
    #[tokio::test]
    async fn a_store_that_breaks_a_promise_is_named() {
        let (store, w) = seeded();
        let ids: Vec<String> = ["v0000", "v0001"].map(String::from).into();
        store.fault(&ids[0], Fault::Corrupt { offset: 1 });
        store.fault(
            &ids[1],
            Fault::ServeOther {
                version_id: ids[0].clone(),
            },
        );
        let problems = check(&store, &w).await;
        assert!(
            problems.iter().any(|p| p.contains("none of those written")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("another object")),
            "{problems:#?}"
        );
    }
}
