//! One streaming pass over restored bytes: which digests a recovery
//! point's references need ([`Plan`]), computing them ([`Hasher`]) and what
//! came out ([`Digests`]), per part where a reference is composite.

use super::*;

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
    content: super::content::Analyser,
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
pub(super) fn etag_is_md5(attrs: &StoredAttributes, sse: Option<&str>) -> bool {
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

pub(super) fn etag_parts(attrs: &StoredAttributes, sse: Option<&str>) -> Option<u32> {
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
            content: super::content::Analyser::default(),
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
        self.content.update(data);
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
            content: self.content.finish(),
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
    /// Entropy and content type of the restored bytes.
    pub content: super::content::ContentFacts,
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
    pub(super) fn full_value(&self, a: ChecksumAlgorithm) -> Option<Vec<u8>> {
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
    pub(super) fn composite_check(
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
