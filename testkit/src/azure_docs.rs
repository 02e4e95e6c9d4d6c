//! A local HTTP responder that answers Azure Blob REST calls with responses
//! built from the Azure Storage REST API documentation ("List Blobs", "Get
//! Blob Properties", "Get Blob", "Undelete Blob", "Delete Blob").
//!
//! Azurite does not implement blob versioning (it silently ignores
//! `versionid` and serves the current blob) nor soft delete and undelete, so
//! tests of those recovery points talk to this responder instead, and say so
//! in their names. It keeps a tiny in-memory model: blobs with optional
//! version ids, a current-version flag, and a soft-deleted flag that Undelete
//! Blob clears and Delete Blob sets. Authentication is not checked.

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use md5::{Digest, Md5};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One blob (or version of one) the responder serves.
#[derive(Debug, Clone)]
pub struct DocBlob {
    pub name: String,
    pub version_id: Option<String>,
    pub is_current_version: bool,
    pub deleted: bool,
    pub body: Vec<u8>,
    /// Serve this Content-MD5 instead of the MD5 of `body` (to plant a lie).
    pub content_md5_override: Option<Vec<u8>>,
    /// `Hot`, `Cool`, `Cold` or `Archive`.
    pub access_tier: &'static str,
    /// Version-level immutability, as Get Blob Properties documents it:
    /// `x-ms-immutability-policy-mode` (`locked`/`unlocked`) and
    /// `x-ms-immutability-policy-until-date` (RFC 1123).
    pub immutability: Option<(&'static str, String)>,
    /// `x-ms-legal-hold`.
    pub legal_hold: Option<bool>,
    /// The snapshot's time, for a snapshot of the blob.
    pub snapshot: Option<String>,
}

impl DocBlob {
    pub fn new(name: &str, body: &[u8]) -> Self {
        Self {
            name: name.into(),
            version_id: None,
            is_current_version: false,
            deleted: false,
            body: body.to_vec(),
            content_md5_override: None,
            access_tier: "Hot",
            immutability: None,
            legal_hold: None,
            snapshot: None,
        }
    }

    fn md5(&self) -> Vec<u8> {
        self.content_md5_override
            .clone()
            .unwrap_or_else(|| Md5::digest(&self.body).to_vec())
    }
}

/// The running responder.
#[derive(Debug, Clone)]
pub struct AzureDocs {
    pub addr: SocketAddr,
    blobs: Arc<Mutex<Vec<DocBlob>>>,
    log: Arc<Mutex<Vec<String>>>,
}

const ACCOUNT: &str = "docaccount";

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, headers: &[(&str, String)], body: Vec<u8>) -> Resp {
    let mut b = Response::builder()
        .status(status)
        .header("x-ms-request-id", "00000000-0000-0000-0000-000000000000")
        .header("x-ms-version", "2025-11-05")
        .header("date", "Sun, 29 Nov 2026 00:00:00 GMT");
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(body))).unwrap_or_default()
}

fn error(status: StatusCode, code: &str) -> Resp {
    let body = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>");
    reply(
        status,
        &[
            ("x-ms-error-code", code.into()),
            ("content-type", "application/xml".into()),
        ],
        body.into_bytes(),
    )
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

impl AzureDocs {
    /// Starts the responder on 127.0.0.1 with these blobs.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn start(blobs: Vec<DocBlob>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let me = Self {
            addr: listener.local_addr()?,
            blobs: Arc::new(Mutex::new(blobs)),
            log: Arc::default(),
        };
        crate::serve_docs(listener, me.clone(), |server: Self, req| async move {
            server.handle(req).await
        });
        Ok(me)
    }

    /// The account URL to configure (`http://127.0.0.1:PORT/docaccount`).
    pub fn account_url(&self) -> String {
        format!("http://{}/{ACCOUNT}", self.addr)
    }

    /// Every request as `METHOD path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The blobs as they are now.
    pub fn blobs(&self) -> Vec<DocBlob> {
        self.blobs.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Removes every entry of `name` (base, versions, snapshots), as the
    /// end of a soft-delete retention period does.
    pub fn expire(&self, name: &str) {
        if let Ok(mut b) = self.blobs.lock() {
            b.retain(|b| b.name != name);
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Resp {
        use http_body_util::BodyExt;
        let (head, body) = req.into_parts();
        let content = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let path = head.uri.path().to_owned();
        let query = head.uri.query().unwrap_or("").to_owned();
        if let Ok(mut l) = self.log.lock() {
            l.push(format!("{} {path}?{query}", head.method));
        }
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let (_account, _container, blob) = (parts.next(), parts.next(), parts.next());
        let Ok(mut blobs) = self.blobs.lock() else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError");
        };
        match (&head.method, blob) {
            (&Method::GET, None) if param(&query, "comp") == Some("list") => {
                self.list(&blobs, &query)
            }
            (m, Some(name)) => {
                let name = name.replace("%2F", "/");
                let version = param(&query, "versionid").map(|v| v.replace("%3A", ":"));
                let snapshot = param(&query, "snapshot").map(|v| v.replace("%3A", ":"));
                match (m, param(&query, "comp")) {
                    (&Method::PUT, None) => put_blob(&mut blobs, &name, &content),
                    (&Method::PUT, Some("snapshot")) => snapshot_blob(&mut blobs, &name),
                    (&Method::PUT, Some("undelete")) => undelete_blob(&mut blobs, &name),
                    (&Method::DELETE, _) => delete_blob(&mut blobs, &name, version.as_ref()),
                    _ => read_blob(&blobs, m, &name, snapshot.as_ref(), version.as_ref()),
                }
            }
            _ => error(StatusCode::BAD_REQUEST, "InvalidQueryParameterValue"),
        }
    }

    fn list(&self, blobs: &[DocBlob], query: &str) -> Resp {
        let include = param(query, "include")
            .unwrap_or_default()
            .replace("%2C", ",");
        let versions = include.contains("versions");
        let deleted = include.contains("deleted");
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"http://{}/{ACCOUNT}/\" ContainerName=\"docs\"><Blobs>",
            self.addr
        );
        for b in blobs {
            // Snapshots are served, not listed.
            if b.snapshot.is_some() {
                continue;
            }
            if b.deleted && !deleted || b.version_id.is_some() && !b.is_current_version && !versions
            {
                continue;
            }
            let md5 = base64::engine::general_purpose::STANDARD.encode(b.md5());
            xml.push_str(&format!("<Blob><Name>{}</Name>", b.name));
            if let Some(v) = &b.version_id {
                if versions {
                    xml.push_str(&format!("<VersionId>{v}</VersionId>"));
                }
                if b.is_current_version {
                    xml.push_str("<IsCurrentVersion>true</IsCurrentVersion>");
                }
            }
            if b.deleted {
                xml.push_str("<Deleted>true</Deleted>");
            }
            xml.push_str(&format!(
                "<Properties><Creation-Time>Sat, 28 Nov 2026 22:00:00 GMT</Creation-Time><Last-Modified>Sat, 28 Nov 2026 23:00:00 GMT</Last-Modified><Etag>0x8DC0000000000000</Etag><Content-Length>{}</Content-Length><Content-Type>application/octet-stream</Content-Type><Content-MD5>{md5}</Content-MD5><BlobType>BlockBlob</BlobType><AccessTier>{}</AccessTier><ServerEncrypted>true</ServerEncrypted>",
                b.body.len(),
                b.access_tier
            ));
            if b.deleted {
                xml.push_str("<DeletedTime>Sat, 28 Nov 2026 23:30:00 GMT</DeletedTime><RemainingRetentionDays>6</RemainingRetentionDays>");
            }
            xml.push_str("</Properties></Blob>");
        }
        if include.contains("deletedwithversions") {
            // A blob deleted in a versioned container: only versions remain
            // (List Blobs documents it with HasVersionsOnly).
            xml.push_str("<Blob><Name>report.pdf</Name><HasVersionsOnly>true</HasVersionsOnly><Properties><Creation-Time>Sat, 28 Nov 2026 22:00:00 GMT</Creation-Time><Last-Modified>Sat, 28 Nov 2026 23:00:00 GMT</Last-Modified><Etag>0x8DC0000000000001</Etag><Content-Length>0</Content-Length><BlobType>BlockBlob</BlobType></Properties></Blob>");
        }
        xml.push_str("</Blobs><NextMarker /></EnumerationResults>");
        reply(
            StatusCode::OK,
            &[("content-type", "application/xml".into())],
            xml.into_bytes(),
        )
    }
}

/// Put Blob (a container without versioning): replaces the live blob.
fn put_blob(blobs: &mut Vec<DocBlob>, name: &str, content: &[u8]) -> Resp {
    // Put Blob (a container without versioning): replaces
    // the live blob.
    blobs.retain(|b| b.name != name || b.deleted || b.snapshot.is_some());
    let b = DocBlob::new(name, content);
    let md5 = base64::engine::general_purpose::STANDARD.encode(b.md5());
    blobs.push(b);
    reply(
        StatusCode::CREATED,
        &[
            ("etag", "\"0x8DC0000000000001\"".into()),
            ("last-modified", "Sun, 06 Dec 2026 12:00:00 GMT".into()),
            ("content-md5", md5),
            ("x-ms-request-server-encrypted", "true".into()),
        ],
        vec![],
    )
}

/// Snapshot Blob of the live base blob.
fn snapshot_blob(blobs: &mut Vec<DocBlob>, name: &str) -> Resp {
    let Some(base) = blobs
        .iter()
        .find(|b| b.name == name && !b.deleted && b.snapshot.is_none() && b.version_id.is_none())
        .cloned()
    else {
        return error(StatusCode::NOT_FOUND, "BlobNotFound");
    };
    let at = format!(
        "2026-12-06T12:00:{:02}.{:07}Z",
        blobs.len() % 60,
        blobs.len()
    );
    let mut snap = base;
    snap.snapshot = Some(at.clone());
    blobs.push(snap);
    reply(
        StatusCode::CREATED,
        &[
            ("x-ms-snapshot", at),
            ("etag", "\"0x8DC0000000000002\"".into()),
            ("last-modified", "Sun, 06 Dec 2026 12:00:00 GMT".into()),
        ],
        vec![],
    )
}

/// Undelete Blob: every soft-deleted blob of the name is live again.
fn undelete_blob(blobs: &mut [DocBlob], name: &str) -> Resp {
    let mut found = false;
    for b in blobs.iter_mut().filter(|b| b.name == name && b.deleted) {
        b.deleted = false;
        found = true;
    }
    if found {
        reply(StatusCode::OK, &[], vec![])
    } else {
        error(StatusCode::NOT_FOUND, "BlobNotFound")
    }
}

/// Delete Blob (soft delete) of the live blob, or of a version.
fn delete_blob(blobs: &mut [DocBlob], name: &str, version: Option<&String>) -> Resp {
    let mut found = false;
    for b in blobs
        .iter_mut()
        .filter(|b| b.name == name && !b.deleted && b.version_id.as_ref() == version)
    {
        b.deleted = true;
        found = true;
    }
    if found {
        reply(StatusCode::ACCEPTED, &[], vec![])
    } else {
        error(StatusCode::NOT_FOUND, "BlobNotFound")
    }
}

/// Get Blob or Get Blob Properties of the live blob, a snapshot or a
/// version.
fn read_blob(
    blobs: &[DocBlob],
    m: &Method,
    name: &str,
    snapshot: Option<&String>,
    version: Option<&String>,
) -> Resp {
    // A version is readable even when its base blob is deleted;
    // a soft-deleted base blob is not.
    let Some(b) = blobs.iter().find(|b| {
        b.name == name
            && match (snapshot, version) {
                (Some(s), _) => b.snapshot.as_deref() == Some(s.as_str()) && !b.deleted,
                (None, Some(v)) => b.version_id.as_deref() == Some(v.as_str()),
                (None, None) => {
                    !b.deleted
                        && b.snapshot.is_none()
                        && (b.version_id.is_none() || b.is_current_version)
                }
            }
    }) else {
        return error(StatusCode::NOT_FOUND, "BlobNotFound");
    };
    let md5 = base64::engine::general_purpose::STANDARD.encode(b.md5());
    let mut headers = vec![
        ("content-length", b.body.len().to_string()),
        ("content-md5", md5),
        ("content-type", "application/octet-stream".into()),
        ("etag", "\"0x8DC0000000000000\"".into()),
        ("last-modified", "Sat, 28 Nov 2026 23:00:00 GMT".into()),
        ("x-ms-blob-type", "BlockBlob".into()),
        ("x-ms-access-tier", b.access_tier.into()),
        ("x-ms-server-encrypted", "true".into()),
        ("accept-ranges", "bytes".into()),
    ];
    if let Some((mode, until)) = &b.immutability {
        headers.push(("x-ms-immutability-policy-mode", (*mode).into()));
        headers.push(("x-ms-immutability-policy-until-date", until.clone()));
    }
    if let Some(hold) = b.legal_hold {
        headers.push(("x-ms-legal-hold", hold.to_string()));
    }
    if let Some(v) = &b.version_id {
        headers.push(("x-ms-version-id", v.clone()));
        headers.push(("x-ms-is-current-version", b.is_current_version.to_string()));
    }
    let body = if m == Method::HEAD {
        vec![]
    } else {
        b.body.clone()
    };
    reply(StatusCode::OK, &headers, body)
}
