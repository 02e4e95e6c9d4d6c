//! A read-only S3 server for benchmarks: serves the files under `--root` as
//! objects (first directory level = bucket), reading them in 1 MiB chunks so
//! that the server is not what limits a client on loopback.
//!
//! It answers just what the benchmark needs: ListObjectVersions (every file is
//! its key's only version, id `null`), ListObjectsV2 and V1 (with a
//! delimiter, as inventory report folders are found), HeadObject, GetObject
//! and GetObjectAttributes. Listings are not paginated (at most a few
//! thousand keys are expected). Authentication is not checked.
//!
//! Each directory DIR under the root is served as three buckets, one per
//! object shape (digests computed when the server starts):
//! - `DIR-sha256`: an opaque ETag (as S3-compatible stores with encryption
//!   report them) and a stored full-object SHA-256;
//! - `DIR-awsdefault`: what AWS stores with today's SDK defaults, an MD5
//!   ETag and a full-object CRC64NVME;
//! - `DIR-etagonly`: an MD5 ETag and no additional checksum.
//!
//! With `encoding-type=url`, listings carry keys percent-encoded (as S3
//! does, so that keys with characters XML 1.0 cannot hold can be listed);
//! without it they are written as they are, which for such keys is not
//! well-formed XML, as on S3.
//!
//! With `--synthetic N`, a bucket named `synthetic` lists N versions that
//! exist in no file (keys `pXXX/obj-NNNNNNNN`, spread evenly over 100
//! prefixes, one version each), paginated as S3 paginates (1,000 a page,
//! `key-marker`, `/` as delimiter), each page answered after
//! `--page-delay-ms` to stand for a store's per-page latency: what a
//! listing of a large bucket costs, without a large bucket. Only listings
//! are answered for it.
//!
//! Stored checksums come back on GET/HEAD with `x-amz-checksum-mode:
//! ENABLED` and in GetObjectAttributes, and listings name the algorithm.
//! `GET /_stats` answers the requests received per S3 call as JSON;
//! `GET /_stats?reset` also starts counting again.
//!
//! Usage: rp-bench-s3 --root DIR --listen 127.0.0.1:PORT
//!        rp-bench-s3 --hash-rate   (this machine's one-pass MD5 + SHA-256
//!                                   rate on one core, in MB/s)

use base64::Engine;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Object {
    path: PathBuf,
    size: u64,
    /// RFC 3339, for XML listings.
    modified: String,
    /// RFC 7231 HTTP-date, for the Last-Modified header.
    http_date: String,
    etag: String,
    md5: String,
    sha256: String,
    crc64nvme: String,
}

/// What a bucket stores with each object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Sha256,
    AwsDefault,
    EtagOnly,
}

impl Shape {
    fn parse(bucket: &str) -> Option<(&str, Shape)> {
        let (dir, shape) = bucket.rsplit_once('-')?;
        let shape = match shape {
            "sha256" => Shape::Sha256,
            "awsdefault" => Shape::AwsDefault,
            "etagonly" => Shape::EtagOnly,
            _ => return None,
        };
        Some((dir, shape))
    }

    fn etag(self, o: &Object) -> &str {
        match self {
            Shape::Sha256 => &o.etag,
            Shape::AwsDefault | Shape::EtagOnly => &o.md5,
        }
    }

    /// The stored checksum: S3's algorithm name and base64 value.
    fn checksum(self, o: &Object) -> Option<(&'static str, &str)> {
        match self {
            Shape::Sha256 => Some(("SHA256", &o.sha256)),
            Shape::AwsDefault => Some(("CRC64NVME", &o.crc64nvme)),
            Shape::EtagOnly => None,
        }
    }
}

/// Requests received, per S3 call.
#[derive(Debug, Default)]
struct Stats {
    calls: std::sync::Mutex<BTreeMap<&'static str, u64>>,
}

impl Stats {
    fn count(&self, call: &'static str) {
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(call).or_default() += 1;
        }
    }

    fn json(&self, reset: bool) -> String {
        let Ok(mut c) = self.calls.lock() else {
            return "{}".into();
        };
        let body = serde_json::to_string(&*c).unwrap_or_else(|_| "{}".into());
        if reset {
            c.clear();
        }
        body
    }
}

type Buckets = BTreeMap<String, BTreeMap<String, Object>>;
type Body = BoxBody<Bytes, std::io::Error>;

fn scan(root: &Path) -> anyhow::Result<Buckets> {
    let mut buckets = Buckets::new();
    for b in std::fs::read_dir(root)? {
        let b = b?;
        if !b.file_type()?.is_dir() {
            continue;
        }
        let name = b.file_name().to_string_lossy().into_owned();
        let mut objects = BTreeMap::new();
        let mut stack = vec![b.path()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir)? {
                let e = e?;
                if e.file_type()?.is_dir() {
                    stack.push(e.path());
                    continue;
                }
                let path = e.path();
                let key = path
                    .strip_prefix(b.path())?
                    .to_string_lossy()
                    .replace('\\', "/");
                let meta = e.metadata()?;
                let mut h = Sha256::new();
                let mut m = md5::Md5::new();
                let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
                let mut f = std::fs::File::open(&path)?;
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    m.update(&buf[..n]);
                    crc.update(&buf[..n]);
                }
                let digest = h.finalize();
                let modified: chrono_like::Utc = meta.modified()?.into();
                objects.insert(
                    key,
                    Object {
                        size: meta.len(),
                        modified: modified.0,
                        http_date: modified.1,
                        etag: format!("bench-{}", hex(&digest[..8])),
                        md5: hex(&m.finalize()),
                        sha256: base64::engine::general_purpose::STANDARD.encode(digest),
                        crc64nvme: base64::engine::general_purpose::STANDARD
                            .encode(crc.finalize().to_be_bytes()),
                        path,
                    },
                );
            }
        }
        buckets.insert(name, objects);
    }
    Ok(buckets)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 3339 with milliseconds from a `SystemTime`, without a date crate.
mod chrono_like {
    /// The same instant as RFC 3339 and as an HTTP-date.
    pub struct Utc(pub String, pub String);
    impl From<std::time::SystemTime> for Utc {
        fn from(t: std::time::SystemTime) -> Self {
            let secs = t
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            // Civil-from-days (H. Hinnant's algorithm).
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = doy - (153 * mp + 2) / 5 + 1;
            let m = if mp < 10 { mp + 3 } else { mp - 9 };
            let y = yoe + era * 400 + i64::from(m <= 2);
            let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
            const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let weekday = DAYS[days.rem_euclid(7) as usize];
            let month = MONTHS[(m - 1) as usize];
            Utc(
                format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.000Z"),
                format!("{weekday}, {d:02} {month} {y:04} {hh:02}:{mm:02}:{ss:02} GMT"),
            )
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Percent-encodes a key as S3 does for `encoding-type=url`.
fn url_encode(k: &str) -> String {
    k.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn full(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap_or_default()
}

fn error(status: StatusCode, code: &str) -> Response<Body> {
    full(
        status,
        "application/xml",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"),
    )
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// ListObjectVersions (or ListObjects) of a bucket: every object once, as
/// the shape lists it.
fn listing(bucket: &str, query: &str, objects: &BTreeMap<String, Object>, shape: Shape) -> String {
    let prefix = query_param(query, "prefix").map(decode).unwrap_or_default();
    let matching = objects.iter().filter(|(k, _)| k.starts_with(&prefix));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let url_keys = query_param(query, "encoding-type") == Some("url");
    let key_text = |k: &str| {
        if url_keys {
            url_encode(k)
        } else {
            xml_escape(k)
        }
    };
    if query_param(query, "versions").is_some() {
        xml.push_str("<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        xml.push_str(&format!("<Name>{bucket}</Name><Prefix>{}</Prefix><MaxKeys>100000</MaxKeys><IsTruncated>false</IsTruncated>", xml_escape(&prefix)));
        if url_keys {
            xml.push_str("<EncodingType>url</EncodingType>");
        }
        for (k, o) in matching {
            let algorithm = shape
                .checksum(o)
                .map(|(a, _)| {
                    format!("<ChecksumAlgorithm>{a}</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>")
                })
                .unwrap_or_default();
            xml.push_str(&format!(
                "<Version><Key>{}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag>{algorithm}<Size>{}</Size><StorageClass>STANDARD</StorageClass></Version>",
                key_text(k), o.modified, shape.etag(o), o.size
            ));
        }
        xml.push_str("</ListVersionsResult>");
    } else {
        let v2 = query_param(query, "list-type") == Some("2");
        let delimiter = query_param(query, "delimiter")
            .map(decode)
            .filter(|d| !d.is_empty());
        xml.push_str("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        xml.push_str(&format!("<Name>{bucket}</Name><Prefix>{}</Prefix><MaxKeys>100000</MaxKeys><IsTruncated>false</IsTruncated>", xml_escape(&prefix)));
        let mut n = 0;
        let mut common = std::collections::BTreeSet::new();
        for (k, o) in matching {
            // With a delimiter, keys past it under the prefix roll up into
            // common prefixes (how inventory report folders are found).
            if let Some(d) = &delimiter {
                if let Some(at) = k[prefix.len()..].find(d.as_str()) {
                    common.insert(k[..prefix.len() + at + d.len()].to_owned());
                    continue;
                }
            }
            n += 1;
            xml.push_str(&format!(
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                xml_escape(k), o.modified, shape.etag(o), o.size
            ));
        }
        for p in &common {
            xml.push_str(&format!(
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                xml_escape(p)
            ));
        }
        if v2 {
            xml.push_str(&format!("<KeyCount>{}</KeyCount>", n + common.len()));
        }
        xml.push_str("</ListBucketResult>");
    }
    xml
}

/// GetObjectAttributes: the ETag, the shape's checksum and the size.
fn attributes(o: &Object, shape: Shape) -> Result<Response<Body>, std::io::Error> {
    let checksum = shape
        .checksum(o)
        .map(|(a, v)| {
            format!("<Checksum><Checksum{a}>{v}</Checksum{a}><ChecksumType>FULL_OBJECT</ChecksumType></Checksum>")
        })
        .unwrap_or_default();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><GetObjectAttributesResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><ETag>{}</ETag>{checksum}<StorageClass>STANDARD</StorageClass><ObjectSize>{}</ObjectSize></GetObjectAttributesResponse>",
        shape.etag(o), o.size
    );
    let mut r = full(StatusCode::OK, "application/xml", xml);
    r.headers_mut().insert(
        "x-amz-version-id",
        "null".parse().map_err(std::io::Error::other)?,
    );
    Ok(r)
}

/// Prefixes a synthetic bucket's keys spread over.
const SYNTHETIC_PREFIXES: u64 = 100;

/// One page of a synthetic bucket of `n` versions (see the module docs).
fn synthetic_listing(query: &str, n: u64) -> String {
    let per = n.div_ceil(SYNTHETIC_PREFIXES).max(1);
    let key = |i: u64| format!("p{:03}/obj-{:08}", i / per, i % per);
    let index = |k: &str| -> Option<u64> {
        let (p, o) = k.strip_prefix('p')?.split_once("/obj-")?;
        Some(p.parse::<u64>().ok()? * per + o.parse::<u64>().ok()?)
    };
    let prefix = query_param(query, "prefix").map(decode).unwrap_or_default();
    let (lo, hi) = if prefix.is_empty() {
        (0, n)
    } else if let Some(p) = prefix
        .strip_prefix('p')
        .and_then(|r| r.strip_suffix('/'))
        .and_then(|r| r.parse::<u64>().ok())
    {
        ((p * per).min(n), ((p + 1) * per).min(n))
    } else {
        (0, 0)
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    xml.push_str(&format!(
        "<Name>synthetic</Name><Prefix>{}</Prefix><MaxKeys>1000</MaxKeys>",
        xml_escape(&prefix)
    ));
    if prefix.is_empty() && query_param(query, "delimiter").is_some() {
        xml.push_str("<IsTruncated>false</IsTruncated>");
        for p in 0..SYNTHETIC_PREFIXES.min(n.div_ceil(per)) {
            xml.push_str(&format!(
                "<CommonPrefixes><Prefix>p{p:03}/</Prefix></CommonPrefixes>"
            ));
        }
        xml.push_str("</ListVersionsResult>");
        return xml;
    }
    let max = query_param(query, "max-keys")
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(1000)
        .min(1000);
    let start = query_param(query, "key-marker")
        .map(decode)
        .and_then(|k| index(&k))
        .map_or(lo, |i| (i + 1).max(lo));
    let end = (start + max).min(hi);
    let truncated = end < hi;
    xml.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
    if truncated && end > start {
        xml.push_str(&format!(
            "<NextKeyMarker>{}</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>",
            key(end - 1)
        ));
    }
    for i in start..end {
        xml.push_str(&format!(
            "<Version><Key>{}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;{:032x}&quot;</ETag><Size>1024</Size><StorageClass>STANDARD</StorageClass></Version>",
            key(i),
            i
        ));
    }
    xml.push_str("</ListVersionsResult>");
    xml
}

/// A synthetic bucket's size and page latency (`--synthetic`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Synthetic {
    pub versions: u64,
    pub page_delay: std::time::Duration,
}

async fn handle(
    buckets: Arc<Buckets>,
    stats: Arc<Stats>,
    synthetic: Synthetic,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let path = decode(req.uri().path());
    let query = req.uri().query().unwrap_or("").to_owned();
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if bucket == "_stats" {
        let reset = query_param(&query, "reset").is_some();
        return Ok(full(StatusCode::OK, "application/json", stats.json(reset)));
    }
    if bucket == "synthetic" && synthetic.versions > 0 {
        stats.count("ListObjectVersions");
        tokio::time::sleep(synthetic.page_delay).await;
        return Ok(full(
            StatusCode::OK,
            "application/xml",
            synthetic_listing(&query, synthetic.versions),
        ));
    }
    let call = match (req.method(), key.is_empty()) {
        (&Method::GET, true) if query_param(&query, "versions").is_some() => "ListObjectVersions",
        (_, true) => "other",
        (&Method::HEAD, false) => "HeadObject",
        (&Method::GET, false) if query_param(&query, "attributes").is_some() => {
            "GetObjectAttributes"
        }
        (&Method::GET, false) => "GetObject",
        _ => "other",
    };
    stats.count(call);
    let Some((objects, shape)) =
        Shape::parse(bucket).and_then(|(dir, shape)| Some((buckets.get(dir)?, shape)))
    else {
        return Ok(error(StatusCode::NOT_FOUND, "NoSuchBucket"));
    };
    let checksum_mode = req
        .headers()
        .get("x-amz-checksum-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"enabled"));
    if key.is_empty() {
        if req.method() == Method::HEAD {
            return Ok(full(StatusCode::OK, "application/xml", String::new()));
        }
        return Ok(full(
            StatusCode::OK,
            "application/xml",
            listing(bucket, &query, objects, shape),
        ));
    }
    let Some(o) = objects.get(key) else {
        return Ok(error(StatusCode::NOT_FOUND, "NoSuchKey"));
    };
    if query_param(&query, "attributes").is_some() {
        return attributes(o, shape);
    }
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .header("content-length", o.size)
        .header("etag", format!("\"{}\"", shape.etag(o)))
        .header("last-modified", &o.http_date)
        .header("x-amz-version-id", "null");
    if let Some((a, v)) = shape.checksum(o).filter(|_| checksum_mode) {
        builder = builder
            .header(format!("x-amz-checksum-{}", a.to_ascii_lowercase()), v)
            .header("x-amz-checksum-type", "FULL_OBJECT");
    }
    if req.method() == Method::HEAD {
        return builder
            .body(
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .map_err(std::io::Error::other);
    }
    let file = tokio::fs::File::open(&o.path).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, CHUNK).map_ok(Frame::data);
    builder
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .map_err(std::io::Error::other)
}

/// Prints this machine's one-pass MD5 + SHA-256 rate on one core (the same
/// crates the agent uses), over 512 MiB in 1 MiB chunks from memory.
pub fn hash_rate() {
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let rounds = 512;
    let started = std::time::Instant::now();
    let mut m = md5::Md5::new();
    let mut h = Sha256::new();
    for _ in 0..rounds {
        m.update(&chunk);
        h.update(&chunk);
    }
    let (_, _) = (m.finalize(), h.finalize());
    let secs = started.elapsed().as_secs_f64();
    println!("{:.0}", (rounds * CHUNK) as f64 / secs / 1e6);
}

/// A running server on 127.0.0.1.
#[derive(Debug)]
pub struct BenchS3 {
    pub addr: SocketAddr,
}

impl BenchS3 {
    /// Serves `root` (see the module docs) on `listen` (port 0 for any)
    /// from a task of the current runtime.
    ///
    /// # Errors
    /// When `root` cannot be read or the socket bound.
    pub async fn start(root: &Path, listen: SocketAddr) -> anyhow::Result<Self> {
        Self::start_with(root, listen, Synthetic::default()).await
    }

    /// [`BenchS3::start`] with a synthetic bucket.
    ///
    /// # Errors
    /// When `root` cannot be read or the socket bound.
    pub async fn start_with(
        root: &Path,
        listen: SocketAddr,
        synthetic: Synthetic,
    ) -> anyhow::Result<Self> {
        let buckets = Arc::new(scan(root)?);
        let stats = Arc::new(Stats::default());
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        crate::serve(
            listener,
            tokio_util::sync::CancellationToken::new(),
            move |req| handle(buckets.clone(), stats.clone(), synthetic, req),
        );
        Ok(Self { addr })
    }

    /// The server's URL, to use as the S3 endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
