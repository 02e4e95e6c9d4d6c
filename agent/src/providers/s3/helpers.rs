//! Keys, checksums and part layouts as S3 writes them.

use super::*;

/// Part sizes of an object of `size` bytes in `parts` parts whose first
/// part is `first` bytes and last part `last` bytes, taking every part but
/// the last to be as large as the first (what every SDK uploader writes),
/// when that adds up.
pub fn first_and_last_parts(size: u64, parts: u32, first: u64, last: u64) -> Option<Vec<u64>> {
    let n = u64::from(parts);
    if n == 0 || first == 0 || last == 0 {
        return None;
    }
    if n == 1 {
        return (first == size).then(|| vec![size]);
    }
    if (n - 1).checked_mul(first)?.checked_add(last)? != size {
        return None;
    }
    let mut v = vec![first; parts as usize];
    if let Some(l) = v.last_mut() {
        *l = last;
    }
    Some(v)
}

/// The checksum algorithm an S3 name (`CRC64NVME`, `SHA256`, ...) stands for.
pub(super) fn algorithm(name: &str) -> Option<ChecksumAlgorithm> {
    Some(match name.to_ascii_uppercase().as_str() {
        "CRC64NVME" => ChecksumAlgorithm::Crc64Nvme,
        "CRC32" => ChecksumAlgorithm::Crc32,
        "CRC32C" => ChecksumAlgorithm::Crc32c,
        "SHA1" => ChecksumAlgorithm::Sha1,
        "SHA256" => ChecksumAlgorithm::Sha256,
        "MD5" => ChecksumAlgorithm::Md5,
        _ => return None,
    })
}

/// The scope an S3 `ChecksumType` (`FULL_OBJECT`, `COMPOSITE`) names.
pub(super) fn scope(name: &str) -> Option<ChecksumScope> {
    match name {
        "FULL_OBJECT" => Some(ChecksumScope::FullObject),
        "COMPOSITE" => Some(ChecksumScope::Composite),
        _ => None,
    }
}

/// Adds the stored checksums a response reported (skipping any already
/// known); `declared` is its `ChecksumType`.
pub(super) fn push_checksums(
    attrs: &mut StoredAttributes,
    declared: Option<&str>,
    values: [(ChecksumAlgorithm, Option<&str>); 6],
) {
    for (algorithm, value) in values {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        let scope = if declared == Some("COMPOSITE") || is_composite(value) {
            ChecksumScope::Composite
        } else {
            ChecksumScope::FullObject
        };
        if attrs
            .checksums
            .iter()
            .any(|c| c.algorithm == algorithm && c.scope == scope)
        {
            continue;
        }
        attrs.checksums.push(StoredChecksum {
            name: format!("s3.checksum.{algorithm}"),
            note: None,
            algorithm,
            scope,
            value: value.to_owned(),
        });
    }
}

/// The parts count a `-N` ETag or composite checksum gives.
pub(super) fn parts_count(attrs: &StoredAttributes) -> Option<u32> {
    attrs.etag.as_deref().and_then(dash_count).or_else(|| {
        attrs
            .checksums
            .iter()
            .filter(|c| c.scope == ChecksumScope::Composite)
            .find_map(|c| dash_count(&c.value))
    })
}

/// Storage classes whose versions may need a restore request before they
/// can be read.
pub(super) fn maybe_archived(class: Option<&str>) -> bool {
    matches!(
        class,
        Some("GLACIER" | "DEEP_ARCHIVE" | "INTELLIGENT_TIERING")
    )
}

/// Percent-encodes a key for `x-amz-copy-source` (slashes stay).
pub(super) fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes a key S3 sent with `encoding-type=url` (`%XX`, `+` for a
/// space); `None` when it is not valid encoding of UTF-8.
pub(super) fn url_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub(super) fn unquote(s: &str) -> String {
    s.trim_matches('"').to_owned()
}

pub(super) fn is_composite(v: &str) -> bool {
    v.rsplit_once('-')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parts count from a `...-N` ETag or composite checksum.
pub(super) fn dash_count(v: &str) -> Option<u32> {
    v.rsplit_once('-').and_then(|(_, n)| n.parse().ok())
}
