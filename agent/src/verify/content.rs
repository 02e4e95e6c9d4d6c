//! What restored bytes look like, computed in the hashing pass: the byte
//! entropy of the first [`ANALYSED_BYTES`] and the content type the first
//! bytes announce (magic numbers). Ransomware leaves near-random bytes
//! behind, and file types that no longer match their names; compressed
//! backups are near-random from the start, which is why a change between
//! versions, not a level, is the signal.

use serde::Serialize;

/// Bytes of each recovery point the entropy is computed over: ransomware,
/// including intermittent encryption, rewrites the start of a file first.
pub const ANALYSED_BYTES: u64 = 1 << 20;

/// Bytes kept to recognise the content type.
const HEAD_BYTES: usize = 512;

/// Entropy and content type of one restored recovery point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContentFacts {
    /// Shannon entropy in bits per byte (0–8) over `analysed_bytes`.
    pub entropy: f64,
    pub analysed_bytes: u64,
    /// `gzip`, `zip`, `zstd`, `bzip2`, `xz`, `7z`, `pdf`, `png`, `jpeg`,
    /// `sqlite`, `tar`, `elf`, `text` or `data` (none of them).
    pub content_type: &'static str,
}

/// The analysis in progress.
#[derive(Debug, Clone)]
pub struct Analyser {
    counts: Box<[[u64; 256]; 4]>,
    analysed: u64,
    head: Vec<u8>,
}

impl Default for Analyser {
    fn default() -> Self {
        Self {
            counts: Box::new([[0; 256]; 4]),
            analysed: 0,
            head: Vec::with_capacity(HEAD_BYTES),
        }
    }
}

impl Analyser {
    pub fn update(&mut self, data: &[u8]) {
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
        let left = ANALYSED_BYTES.saturating_sub(self.analysed) as usize;
        let data = &data[..left.min(data.len())];
        // Four interleaved tables: consecutive equal bytes do not wait on
        // one counter.
        let mut chunks = data.chunks_exact(4);
        for c in &mut chunks {
            self.counts[0][c[0] as usize] += 1;
            self.counts[1][c[1] as usize] += 1;
            self.counts[2][c[2] as usize] += 1;
            self.counts[3][c[3] as usize] += 1;
        }
        for &b in chunks.remainder() {
            self.counts[0][b as usize] += 1;
        }
        self.analysed += data.len() as u64;
    }

    pub fn finish(&self) -> ContentFacts {
        let n = self.analysed as f64;
        let entropy = if self.analysed == 0 {
            0.0
        } else {
            (0..256)
                .map(|i| self.counts.iter().map(|t| t[i]).sum::<u64>())
                .filter(|c| *c > 0)
                .map(|c| {
                    let p = c as f64 / n;
                    -p * p.log2()
                })
                .sum()
        };
        ContentFacts {
            entropy: (entropy * 1000.0).round() / 1000.0,
            analysed_bytes: self.analysed,
            content_type: content_type(&self.head),
        }
    }
}

/// The content type the first bytes announce.
pub fn content_type(head: &[u8]) -> &'static str {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x1f\x8b", "gzip"),
        (b"PK\x03\x04", "zip"),
        (b"PK\x05\x06", "zip"),
        (b"PK\x07\x08", "zip"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"7z\xbc\xaf\x27\x1c", "7z"),
        (b"%PDF-", "pdf"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff", "jpeg"),
        (b"SQLite format 3\x00", "sqlite"),
        (b"\x7fELF", "elf"),
        (b"PGDMP", "pgdump"),
    ];
    if let Some((_, t)) = MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        return t;
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return "tar";
    }
    // Text: valid UTF-8 (a character cut at the end allowed) without
    // control bytes other than whitespace.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    if !head.is_empty()
        && valid
        && head
            .iter()
            .all(|b| *b >= 0x20 || matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
    {
        return "text";
    }
    "data"
}

/// Every type [`content_type`] names.
const TYPES: &[&str] = &[
    "gzip", "zip", "zstd", "bzip2", "xz", "7z", "pdf", "png", "jpeg", "sqlite", "elf", "pgdump",
    "tar", "text", "data",
];

/// A stored type name as the one [`content_type`] gives (`data` for a
/// name this release does not know).
pub fn known_type(name: Option<&str>) -> &'static str {
    TYPES
        .iter()
        .find(|t| Some(**t) == name)
        .copied()
        .unwrap_or("data")
}

/// The content type a key's name promises, when it promises one.
pub fn expected_type(key: &str) -> Option<&'static str> {
    let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "gz" | "tgz" => "gzip",
        "zip" | "docx" | "xlsx" | "pptx" | "odt" | "ods" | "jar" => "zip",
        "zst" => "zstd",
        "bz2" => "bzip2",
        "xz" => "xz",
        "7z" => "7z",
        "pdf" => "pdf",
        "png" => "png",
        "jpg" | "jpeg" => "jpeg",
        "sqlite" | "sqlite3" => "sqlite",
        "tar" => "tar",
        "sql" | "txt" | "csv" | "json" | "log" | "xml" | "yaml" | "yml" | "md" => "text",
        _ => return None,
    })
}

/// Entropy above this is near-random (encrypted, or compressed).
pub const NEAR_RANDOM: f64 = 7.9;
/// A predecessor below this was not encrypted or compressed.
pub const STRUCTURED: f64 = 7.0;
/// Fewer analysed bytes than this cannot look near-random.
pub const MIN_FOR_ENTROPY: u64 = 4096;

/// Why a version looks like its predecessor was encrypted over, or `None`.
/// `previous` is the nearest older version of the same key.
pub fn suspicious(key: &str, now: &ContentFacts, previous: &ContentFacts) -> Vec<String> {
    let mut why = Vec::new();
    if now.analysed_bytes >= MIN_FOR_ENTROPY
        && now.entropy > NEAR_RANDOM
        && previous.entropy < STRUCTURED
    {
        why.push(format!(
            "entropy jumped to {:.3} bits/byte (near-random) from {:.3} in the previous version",
            now.entropy, previous.entropy
        ));
    }
    if now.content_type != previous.content_type {
        match expected_type(key) {
            Some(t) if previous.content_type == t && now.content_type != t => why.push(format!(
                "the content is no longer {t} as its name and the previous version say (now {})",
                now.content_type
            )),
            None if previous.content_type != "data" && now.content_type == "data" => {
                why.push(format!(
                    "the content type changed from {} to unrecognised data",
                    previous.content_type
                ))
            }
            _ => {}
        }
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(bytes: &[u8]) -> ContentFacts {
        let mut a = Analyser::default();
        for c in bytes.chunks(1000) {
            a.update(c);
        }
        a.finish()
    }

    fn random(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn entropy_and_types_are_measured_in_one_pass() {
        let text = b"INSERT INTO t VALUES (1, 'alice');\n".repeat(2000);
        let t = facts(&text);
        assert_eq!(t.content_type, "text");
        assert!(t.entropy < 5.0, "{t:?}");
        let r = facts(&random(200_000));
        assert!(r.entropy > 7.99, "{r:?}");
        assert_eq!(r.content_type, "data");
        let mut gz = b"\x1f\x8b\x08\x00".to_vec();
        gz.extend(random(100_000));
        assert_eq!(facts(&gz).content_type, "gzip");
        // Only the first MiB counts.
        let mut big = vec![0u8; 2 << 20];
        big[(1 << 20) + 5..].copy_from_slice(&random((1 << 20) - 5));
        let b = facts(&big);
        assert_eq!((b.analysed_bytes, b.entropy), (1 << 20, 0.0));
    }

    #[test]
    fn encryption_over_text_or_a_changed_type_is_suspicious_and_compression_is_not() {
        let sql = facts(&b"COPY accounts FROM stdin;\n1\talice\n".repeat(3000));
        let enc = facts(&random(100_000));
        assert!(!suspicious("db/dump.sql", &enc, &sql).is_empty());
        let mut gz1 = b"\x1f\x8b\x08\x00".to_vec();
        gz1.extend(random(100_000));
        let mut gz2 = b"\x1f\x8b\x08\x00".to_vec();
        gz2.extend(random(120_000).iter().rev());
        // A new gzip over an old gzip: always high entropy, same type.
        assert!(suspicious("db/dump.sql.gz", &facts(&gz2), &facts(&gz1)).is_empty());
        // A .sql.gz that is no longer gzip.
        let why = suspicious("db/dump.sql.gz", &enc, &facts(&gz1));
        assert!(why.iter().any(|w| w.contains("no longer gzip")), "{why:?}");
        // A .docx that is no longer a zip.
        let mut docx = b"PK\x03\x04".to_vec();
        docx.extend(random(50_000));
        let why = suspicious("hr/contract.docx", &enc, &facts(&docx));
        assert!(why.iter().any(|w| w.contains("no longer zip")), "{why:?}");
    }
}
