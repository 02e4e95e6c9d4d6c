//! A local HTTP receiver that speaks the documented request and response
//! contracts of Splunk's HTTP Event Collector (`/services/collector/event`,
//! indexer acknowledgement on `/services/collector/ack`) and Elasticsearch's
//! `_bulk` API (per-item results, 409 for an `_id` that exists), plus a
//! plain NDJSON webhook (`/hook`). No real Splunk or Elasticsearch server
//! can be installed here, so the HTTP sinks are tested against this.
//!
//! It can be stopped and started again on the same port (an outage), and
//! told to fail: answer a status (with `Retry-After`), fail chosen `_bulk`
//! items, or read a request and drop the connection without answering.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A failure to inject into the next matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiemFault {
    /// Answer this status (429 and 503 with `Retry-After: 1`).
    Status(u16),
    /// Read the request, then close the connection without an answer.
    Drop,
    /// In `_bulk`: answer 200 but fail every item at or after this position
    /// (0-based) with this status.
    BulkItemsFrom(usize, u16),
}

#[derive(Debug, Default)]
struct State {
    /// Every delivery of an event id, in arrival order.
    arrivals: Vec<String>,
    /// The records as received, by path.
    records: Vec<(String, Value)>,
    faults: VecDeque<SiemFault>,
    token: Option<String>,
    next_ack: u64,
    /// ackId -> polls left before it is acknowledged.
    acks: BTreeMap<u64, u32>,
    bulk_ids: std::collections::BTreeSet<String>,
    requests: u64,
    /// Each request's (path, Authorization scheme, Content-Type).
    seen: Vec<(String, String, String)>,
}

/// The receiver; clones share its state.
#[derive(Debug, Clone)]
pub struct SiemReceiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    running: Arc<Mutex<Option<CancellationToken>>>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SiemReceiver {
    /// Starts on a free loopback port. `token`: the HEC token (or bearer
    /// token) it demands, if any.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(token: Option<&str>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let me = Self {
            addr: listener.local_addr()?,
            state: Arc::default(),
            running: Arc::default(),
        };
        lock(&me.state).token = token.map(str::to_owned);
        me.serve(listener);
        Ok(me)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops answering: the port refuses connections and open ones close.
    pub fn stop(&self) {
        if let Some(t) = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            t.cancel();
        }
    }

    /// Starts again on the same port.
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub async fn restart(&self) -> std::io::Result<()> {
        self.stop();
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    /// Queues a fault for the next request(s).
    pub fn fail_next(&self, f: SiemFault, times: usize) {
        let mut s = lock(&self.state);
        for _ in 0..times {
            s.faults.push_back(f.clone());
        }
    }

    /// Every event id received, once per delivery, in arrival order.
    pub fn arrivals(&self) -> Vec<String> {
        lock(&self.state).arrivals.clone()
    }

    /// The records received (path, record).
    pub fn records(&self) -> Vec<(String, Value)> {
        lock(&self.state).records.clone()
    }

    /// Each request's (path, the scheme of its Authorization header,
    /// Content-Type), in arrival order.
    pub fn seen(&self) -> Vec<(String, String, String)> {
        lock(&self.state).seen.clone()
    }

    /// Requests answered or dropped so far.
    pub fn requests(&self) -> u64 {
        lock(&self.state).requests
    }

    fn serve(&self, listener: TcpListener) {
        let token = CancellationToken::new();
        *self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token.clone());
        let state = self.state.clone();
        crate::serve(listener, token, move |req| {
            let state = state.clone();
            async move { handle(state, req).await }
        });
    }
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn answer(status: u16, body: &Value) -> Answer {
    let mut r = Response::builder()
        .status(status)
        .header("Content-Type", "application/json");
    if status == 429 || status == 503 {
        r = r.header("Retry-After", "1");
    }
    r.body(Full::new(Bytes::from(body.to_string())))
        .map_err(std::io::Error::other)
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let auth = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let gzip = req
        .headers()
        .get("Content-Encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let content_type = req
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let raw = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        out
    } else {
        raw.to_vec()
    };
    let mut s = lock(&state);
    s.requests += 1;
    let scheme = auth
        .as_deref()
        .and_then(|a| a.split_whitespace().next())
        .unwrap_or("")
        .to_owned();
    s.seen.push((path.clone(), scheme, content_type));
    if method == hyper::Method::HEAD {
        return answer(200, &json!({}));
    }
    if let Some(t) = &s.token {
        let ok = auth
            .as_deref()
            .is_some_and(|a| a == format!("Splunk {t}") || a == format!("Bearer {t}"));
        if !ok {
            return answer(401, &json!({"text": "Invalid token", "code": 4}));
        }
    }
    let bulk_fault = match s.faults.front() {
        Some(SiemFault::BulkItemsFrom(at, status)) if path.ends_with("/_bulk") => {
            let f = (*at, *status);
            s.faults.pop_front();
            Some(f)
        }
        Some(SiemFault::BulkItemsFrom(..)) => None,
        Some(_) => match s.faults.pop_front() {
            Some(SiemFault::Status(code)) => {
                return answer(code, &json!({"text": "Server is busy", "code": 9}))
            }
            Some(SiemFault::Drop) => {
                return Err(std::io::Error::other("dropping the connection as told"))
            }
            _ => None,
        },
        None => None,
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    match path.as_str() {
        "/services/collector/event" => hec_events(&mut s, &path, &text),
        "/services/collector/ack" => hec_acks(&mut s, &text),
        p if p.ends_with("/_bulk") => bulk(&mut s, &path, &text, bulk_fault),
        "/hook" => hook(&mut s, &path, &text),
        _ => answer(404, &json!({"error": format!("no such path {path}")})),
    }
}

/// Splunk HEC events: recorded, each acknowledged on the second poll.
fn hec_events(s: &mut State, path: &str, text: &str) -> Answer {
    let events: Vec<Value> = serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .filter_map(Result::ok)
        .collect();
    if events.is_empty() {
        return answer(400, &json!({"text": "No data", "code": 5}));
    }
    for e in events {
        let id = e["fields"]["event_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        s.arrivals.push(id);
        s.records.push((path.to_owned(), e));
    }
    s.next_ack += 1;
    let ack = s.next_ack;
    // Acknowledged on the second poll, so the agent has to poll.
    s.acks.insert(ack, 1);
    answer(200, &json!({"text": "Success", "code": 0, "ackId": ack}))
}

/// Splunk HEC acknowledgement polls.
fn hec_acks(s: &mut State, text: &str) -> Answer {
    let asked: Value = serde_json::from_str(text).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for id in asked["acks"].as_array().cloned().unwrap_or_default() {
        let Some(id) = id.as_u64() else { continue };
        let done = match s.acks.get_mut(&id) {
            Some(0) => true,
            Some(left) => {
                *left -= 1;
                false
            }
            None => false,
        };
        out.insert(id.to_string(), json!(done));
    }
    answer(200, &json!({ "acks": out }))
}

/// Elasticsearch `_bulk` creates; a document already created is a 409; a
/// fault fails the items from one on.
fn bulk(s: &mut State, path: &str, text: &str, bulk_fault: Option<(usize, u16)>) -> Answer {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut items = Vec::new();
    let mut errors = false;
    for (i, pair) in lines.chunks(2).enumerate() {
        let action: Value = serde_json::from_str(pair[0]).unwrap_or_default();
        let create = &action["create"];
        let id = create["_id"].as_str().unwrap_or_default().to_owned();
        let index = create["_index"].clone();
        let status = match bulk_fault {
            Some((from, status)) if i >= from => status,
            _ if s.bulk_ids.contains(&id) => 409,
            _ => 201,
        };
        if status == 201 {
            s.bulk_ids.insert(id.clone());
            s.arrivals.push(id.clone());
            let doc: Value = pair
                .get(1)
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default();
            s.records.push((path.to_owned(), doc));
        }
        let mut item = json!({"_index": index, "_id": id, "status": status});
        if status >= 300 {
            errors = true;
            item["error"] = json!({"type": match status {
                409 => "version_conflict_engine_exception",
                429 => "es_rejected_execution_exception",
                _ => "mapper_parsing_exception",
            }, "reason": "as the test asked"});
        }
        items.push(json!({ "create": item }));
    }
    answer(200, &json!({"took": 1, "errors": errors, "items": items}))
}

/// A webhook's JSON lines.
fn hook(s: &mut State, path: &str, text: &str) -> Answer {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_default();
        let id = v["metadata"]["uid"]
            .as_str()
            .or(v["event"]["id"].as_str())
            .or(v["event_id"].as_str())
            .unwrap_or_default()
            .to_owned();
        s.arrivals.push(id);
        s.records.push((path.to_owned(), v));
    }
    answer(200, &json!({"ok": true}))
}
