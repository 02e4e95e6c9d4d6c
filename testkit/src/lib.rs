//! Test harness for restoreproof.
//!
//! [`FaultProxy`] is an HTTP proxy that sits between the agent and a real S3
//! server (moto, SeaweedFS) or Azurite and misbehaves on request: flips a
//! byte of a response body, truncates it (with a matching, lying
//! `Content-Length`), answers with an S3 error status, resets the
//! connection, stalls, serves another version of the key with that
//! version's headers, or strips reference headers. It never rewrites a
//! request, so a store that checks SigV4 signatures accepts what it
//! forwards. No local S3 server can be asked
//! to corrupt what it serves, so this is the one in-process stand-in the
//! tests use; everything else talks to the real server through it.

pub mod aws_backup;
pub mod aws_docs;
pub mod azure_docs;
pub mod azure_mgmt;
pub mod bench_s3;
pub mod s3_control;
pub mod siem;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The one accept loop of the harness's HTTP servers: serves each
/// connection on `listener` with `handle` (HTTP/1, TCP_NODELAY — headers and
/// body go out as separate writes, and without it a small response waits for
/// the client's delayed ACK, which no real server does) until `stop` is
/// cancelled, which also ends the connections in progress.
pub(crate) fn serve<F, Fut, B, E>(
    listener: TcpListener,
    stop: tokio_util::sync::CancellationToken,
    handle: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = stop.cancelled() => return,
            };
            let Ok((stream, _)) = accepted else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handle = handle.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(handle);
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    });
}

/// Serves a documented-responses responder until the process ends: each
/// request goes to `handle` with a clone of `server` (its shared state).
pub(crate) fn serve_docs<S, H, Fut>(listener: TcpListener, server: S, handle: H)
where
    S: Clone + Send + Sync + 'static,
    H: Fn(S, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    serve(
        listener,
        tokio_util::sync::CancellationToken::new(),
        move |req| {
            let reply = handle(server.clone(), req);
            async move { Ok::<_, std::convert::Infallible>(reply.await) }
        },
    );
}

/// What the proxy does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// XOR the byte at this offset of the response body with 0x01.
    FlipByte(u64),
    /// Keep only this many bytes of the body and say so in Content-Length.
    Truncate(u64),
    /// Answer with this status and an S3 error document with this code.
    Status(u16, &'static str),
    /// Close the connection without answering.
    Reset,
    /// Wait this long before forwarding (a server that stalls).
    Stall(std::time::Duration),
    /// Forward at once, then wait this long before answering: the store
    /// has done what was asked while the client still waits (a slow
    /// answer, or a client killed before it heard it).
    StallAnswer(std::time::Duration),
    /// A caching gateway that ignores `versionId`: answers with the last
    /// successful answer the proxy saw for the same path under another
    /// query (another version of the same key), with that answer's own
    /// headers — version id, ETag, checksums — and bytes; forwards (and
    /// remembers the answer) when it has none. The request itself is never
    /// rewritten, so stores that check SigV4 signatures accept it.
    ServeOtherVersion,
}

/// A fault applied to requests whose path and query contain `needle`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub needle: String,
    /// Only object-body GETs (restores): not HEAD, not GetObjectAttributes,
    /// not listings.
    pub restores_only: bool,
    pub fault: Fault,
    /// Fires this many times, then stops; `None` fires forever.
    pub remaining: Option<u32>,
    /// Only requests of this method (`PUT`, `DELETE`, ...); `None`: any.
    pub method: Option<String>,
}

impl Rule {
    /// A rule for object-body GETs (restores) whose URL contains `needle`,
    /// firing forever.
    pub fn get(needle: impl Into<String>, fault: Fault) -> Self {
        Self {
            needle: needle.into(),
            restores_only: true,
            fault,
            remaining: None,
            method: None,
        }
    }

    /// A rule for every request whose URL contains `needle`.
    pub fn any(needle: impl Into<String>, fault: Fault) -> Self {
        Self {
            needle: needle.into(),
            restores_only: false,
            fault,
            remaining: None,
            method: None,
        }
    }

    /// Limits the rule to requests of `method`.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    /// Limits the rule to the first `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }
}

/// A running fault-injecting proxy on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    rules: Arc<Mutex<Vec<Rule>>>,
    hits: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
    strip_checksums: Arc<std::sync::atomic::AtomicBool>,
    strip_lock: Arc<std::sync::atomic::AtomicBool>,
    strip_references: Arc<std::sync::atomic::AtomicBool>,
    /// [`Fault::ServeOtherVersion`]'s memory: per path, the query and the
    /// answer last seen.
    answers: Arc<Mutex<std::collections::HashMap<String, CachedAnswer>>>,
}

/// An answer [`Fault::ServeOtherVersion`] replays.
#[derive(Debug, Clone)]
struct CachedAnswer {
    query: String,
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// One request the proxy received, as the agent sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
}

impl SeenRequest {
    /// What S3 call this is: `GetObjectAttributes`, `GetObjectRetention`,
    /// `HeadObject`, `GetObject`, `ListObjectVersions` or `other`.
    pub fn call(&self) -> &'static str {
        let q = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let has = |k: &str| {
            q.split('&')
                .any(|kv| kv == k || kv.starts_with(&format!("{k}=")))
        };
        match self.method.as_str() {
            "GET" if has("attributes") => "GetObjectAttributes",
            "GET" if has("retention") => "GetObjectRetention",
            "GET" if has("versions") => "ListObjectVersions",
            "HEAD" => "HeadObject",
            "GET" if !has("list-type") && self.target.trim_start_matches('/').contains('/') => {
                "GetObject"
            }
            _ => "other",
        }
    }
}

type Body = Full<Bytes>;

/// A successful answer's bytes damaged as the fault says: one bit flipped,
/// or the body cut short (with a Content-Length to match).
fn damage(fault: Option<&Fault>, headers: &mut hyper::HeaderMap, bytes: &mut Vec<u8>) {
    match fault {
        Some(Fault::FlipByte(at)) => {
            if let Some(b) = bytes.get_mut(*at as usize) {
                *b ^= 0x01;
            }
        }
        Some(Fault::Truncate(keep)) => {
            bytes.truncate(*keep as usize);
            headers.insert(hyper::header::CONTENT_LENGTH, bytes.len().into());
        }
        _ => {}
    }
}

/// Whether a request reads an object's bytes (a restore): a GET that is
/// not GetObjectAttributes or a listing.
fn is_restore(get: bool, target: &str) -> bool {
    // The query only: a bucket or key may be named "versions".
    let query = target.split_once('?').map_or("", |(_, q)| q);
    get && !query.contains("attributes")
        && !query.contains("versions")
        && !query.contains("list-type")
        && !query.contains("comp=list")
}

impl FaultProxy {
    /// Starts a proxy on `listen` (use port 0 for any) forwarding to `upstream`.
    ///
    /// # Errors
    /// When the listening socket cannot be bound.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let proxy = Self {
            addr,
            rules: Arc::default(),
            hits: Arc::default(),
            requests: Arc::default(),
            strip_checksums: Arc::default(),
            strip_lock: Arc::default(),
            strip_references: Arc::default(),
            answers: Arc::default(),
        };
        let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build_http();
        let me = proxy.clone();
        serve(
            listener,
            tokio_util::sync::CancellationToken::new(),
            move |req| {
                let me = me.clone();
                let client = client.clone();
                async move { me.handle(req, upstream, client).await }
            },
        );
        Ok(proxy)
    }

    /// The proxy's URL, to use as the S3 endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule; rules are tried in order, the first match fires.
    pub fn add(&self, rule: Rule) {
        if let Ok(mut r) = self.rules.lock() {
            r.push(rule);
        }
    }

    /// Removes every rule.
    pub fn clear(&self) {
        if let Ok(mut r) = self.rules.lock() {
            r.clear();
        }
    }

    /// From now on, drops every `x-amz-checksum-*` header from every answer
    /// (whatever fault also fires): a store that keeps no additional
    /// checksums, or does not return them on GET/HEAD.
    pub fn strip_checksums(&self, on: bool) {
        self.strip_checksums
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, removes every reference header from the answers to
    /// restores (object GETs): `ETag`, `x-amz-checksum-*` (the type too)
    /// and `Content-MD5`, as a gateway that strips them does. The version id
    /// and the bytes pass unchanged, and other faults still fire.
    pub fn strip_references(&self, on: bool) {
        self.strip_references
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Removes the `x-amz-object-lock-*` headers from every answer, as S3
    /// does for an identity without `s3:GetObjectRetention` and
    /// `s3:GetObjectLegalHold`.
    pub fn strip_object_lock(&self, on: bool) {
        self.strip_lock
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many requests of an S3 call (see [`SeenRequest::call`]) were
    /// received.
    pub fn count(&self, call: &str) -> usize {
        self.requests().iter().filter(|r| r.call() == call).count()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        if let Ok(mut r) = self.requests.lock() {
            r.clear();
        }
    }

    /// Every URL a fault fired on, in order.
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    fn take_fault(&self, method: &hyper::Method, target: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        let restore = is_restore(method == hyper::Method::GET, target);
        let rule = rules.iter_mut().find(|r| {
            target.contains(&r.needle)
                && (!r.restores_only || restore)
                && r.remaining != Some(0)
                && r.method.as_deref().is_none_or(|m| m == method.as_str())
        })?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        let f = rule.fault.clone();
        if let Ok(mut h) = self.hits.lock() {
            h.push(target.to_owned());
        }
        Some(f)
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        upstream: SocketAddr,
        client: Client<hyper_util::client::legacy::connect::HttpConnector, Incoming>,
    ) -> Result<Response<Body>, std::io::Error> {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        if let Ok(mut r) = self.requests.lock() {
            r.push(SeenRequest {
                method: req.method().as_str().to_owned(),
                target: target.clone(),
            });
        }
        let fault = self.take_fault(req.method(), &target);
        let req_method_get = req.method() == hyper::Method::GET;
        if let Some(Fault::Status(status, code)) = fault {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
            );
            return Ok(Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header("content-type", "application/xml")
                .body(Full::new(Bytes::from(body)))
                .unwrap_or_default());
        }
        if fault == Some(Fault::Reset) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset",
            ));
        }
        if let Some(Fault::Stall(d)) = fault {
            tokio::time::sleep(d).await;
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (target.clone(), String::new()),
        };
        if fault == Some(Fault::ServeOtherVersion) {
            let other = self
                .answers
                .lock()
                .ok()
                .and_then(|a| a.get(&path).cloned())
                .filter(|a| a.query != query);
            if let Some(a) = other {
                let mut r = Response::new(Full::new(a.body));
                *r.status_mut() = a.status;
                *r.headers_mut() = a.headers;
                return Ok(r);
            }
        }
        let (mut parts, body) = req.into_parts();
        let uri = format!("http://{upstream}{target}");
        parts.uri = uri.parse().map_err(std::io::Error::other)?;
        let resp = client
            .request(Request::from_parts(parts, body))
            .await
            .map_err(std::io::Error::other)?;
        if let Some(Fault::StallAnswer(d)) = fault {
            tokio::time::sleep(d).await;
        }
        let (mut parts, body) = resp.into_parts();
        let mut bytes = body
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes()
            .to_vec();
        self.strip_headers(&mut parts.headers, req_method_get, &target);
        if fault == Some(Fault::ServeOtherVersion) && parts.status.is_success() {
            if let Ok(mut a) = self.answers.lock() {
                a.insert(
                    path,
                    CachedAnswer {
                        query,
                        status: parts.status,
                        headers: parts.headers.clone(),
                        body: Bytes::from(bytes.clone()),
                    },
                );
            }
        }
        if parts.status.is_success() {
            damage(fault.as_ref(), &mut parts.headers, &mut bytes);
        }
        Ok(Response::from_parts(parts, Full::new(Bytes::from(bytes))))
    }

    /// Takes away the headers the proxy is set to strip: additional
    /// checksums, every reference of a restore (ETag, Content-MD5), Object
    /// Lock facts.
    fn strip_headers(&self, headers: &mut hyper::HeaderMap, get: bool, target: &str) {
        let strip_refs = self
            .strip_references
            .load(std::sync::atomic::Ordering::SeqCst)
            && is_restore(get, target);
        let strip_sums = self
            .strip_checksums
            .load(std::sync::atomic::Ordering::SeqCst)
            || strip_refs;
        let strip_lock = self.strip_lock.load(std::sync::atomic::Ordering::SeqCst);
        if !(strip_sums || strip_lock || strip_refs) {
            return;
        }
        let names: Vec<_> = headers
            .keys()
            .filter(|k| {
                let k = k.as_str();
                strip_sums && k.starts_with("x-amz-checksum")
                    || strip_refs && (k == "etag" || k == "content-md5")
                    || strip_lock && k.starts_with("x-amz-object-lock")
            })
            .cloned()
            .collect();
        for n in names {
            headers.remove(n);
        }
    }
}
