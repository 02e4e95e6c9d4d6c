//! HTTP receivers: Splunk HTTP Event Collector, Elasticsearch/OpenSearch
//! `_bulk`, or a generic webhook taking NDJSON.
//!
//! What counts as acknowledged:
//! - webhook: a 2xx answer for the whole batch;
//! - Elasticsearch `_bulk`: each item on its own (the answer is 200 even when
//!   items fail). Items are sent as `create` with the event id as `_id`, so
//!   201 and 409 (already there) both mean delivered; the batch is
//!   acknowledged up to the first other item, and 429/5xx items are retried;
//! - Splunk HEC: a 2xx answer; with `ack = true`, only once the indexer
//!   acknowledges the batch's `ackId` on `/services/collector/ack` (HEC's 200
//!   alone means "well-formed").
//!
//! 429 and 503 wait as long as `Retry-After` says.

use super::config::{Format, HttpAuth, HttpProtocol, SinkConfig, SinkKind};
use super::{format, Delivery, Outgoing, Sink, SinkError};
use crate::config::Secret;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

pub struct HttpSink {
    client: reqwest::Client,
    protocol: HttpProtocol,
    url: String,
    auth: Option<(String, Secret)>,
    gzip: bool,
    index: Option<String>,
    ack: bool,
    format: Format,
    /// HEC channel (with indexer acknowledgement).
    channel: String,
    timeout: Duration,
}

impl HttpSink {
    pub fn new(cfg: &SinkConfig) -> Result<Self, SinkError> {
        let SinkKind::Http {
            protocol,
            url,
            auth,
            tls,
            gzip,
            index,
            ack,
            timeout,
        } = &cfg.kind
        else {
            unreachable!("built from an http sink config")
        };
        let mut builder = reqwest::Client::builder()
            .timeout(*timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("restoreproof/", env!("CARGO_PKG_VERSION")));
        if tls.ca_file.is_some() || tls.client_cert_file.is_some() {
            builder = builder.tls_backend_preconfigured(super::tls::client_config(tls)?);
        }
        let client = builder
            .build()
            .map_err(|e| SinkError::permanent(format!("cannot set up the HTTP client: {e}")))?;
        let auth = match auth {
            HttpAuth::None => None,
            HttpAuth::Token(s) => {
                let token = s
                    .read("the sink's token")
                    .map_err(|e| SinkError::permanent(e.to_string()))?;
                let scheme = if *protocol == HttpProtocol::SplunkHec {
                    "Splunk"
                } else {
                    "Bearer"
                };
                Some((scheme.to_owned(), token))
            }
            HttpAuth::Basic { username, password } => {
                let p = password
                    .read("the sink's password")
                    .map_err(|e| SinkError::permanent(e.to_string()))?;
                use base64::Engine as _;
                let pair = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", p.expose()));
                Some(("Basic".to_owned(), Secret::new(pair)))
            }
        };
        let url = match protocol {
            HttpProtocol::ElasticsearchBulk if !url.trim_end_matches('/').ends_with("/_bulk") => {
                format!("{}/_bulk", url.trim_end_matches('/'))
            }
            _ => url.clone(),
        };
        Ok(Self {
            client,
            protocol: *protocol,
            url,
            auth,
            gzip: *gzip,
            index: index.clone(),
            ack: *ack,
            format: cfg.format,
            channel: uuid::Uuid::new_v4().to_string(),
            timeout: *timeout,
        })
    }

    fn request(
        &self,
        url: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<reqwest::RequestBuilder, SinkError> {
        let mut r = self.client.post(url).header("Content-Type", content_type);
        if let Some((scheme, token)) = &self.auth {
            r = r.header("Authorization", format!("{scheme} {}", token.expose()));
        }
        if self.protocol == HttpProtocol::SplunkHec {
            r = r.header("X-Splunk-Request-Channel", &self.channel);
        }
        if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body)
                .and_then(|()| enc.finish())
                .map(|gz| r.header("Content-Encoding", "gzip").body(gz))
                .map_err(|e| SinkError::new(format!("gzip: {e}")))
        } else {
            Ok(r.body(body))
        }
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(u16, Value), SinkError> {
        let resp = self
            .request(url, body, content_type)?
            .send()
            .await
            .map_err(|e| SinkError::new(format!("POST {url}: {}", describe(&e))))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        let detail = match &body {
            Value::String(s) => s.chars().take(300).collect::<String>(),
            other => other.to_string().chars().take(300).collect(),
        };
        let hint = match status {
            401 | 403 => "; check the sink's token or password",
            404 => "; check the sink's url",
            413 => "; lower batch_bytes",
            429 | 503 => "; the receiver is busy, retrying",
            _ => "",
        };
        Err(SinkError {
            message: format!("POST {url}: HTTP {status}: {detail}{hint}"),
            retry_after,
            // The receiver refused the request itself: the token, the URL or
            // the batch size must change, not the moment.
            permanent: matches!(status, 400 | 401 | 403 | 404 | 405 | 410 | 413 | 414),
        })
    }

    fn hec_body(&self, batch: &[Outgoing]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in batch {
            let n = &e.record;
            let time = n.epoch_ms().map_or(0.0, |t| t as f64 / 1000.0);
            let mut ev = json!({
                "time": time,
                "host": n.agent.host,
                "source": "restoreproof",
                "sourcetype": match self.format {
                    Format::Ocsf => "restoreproof:ocsf",
                    Format::Ecs => "restoreproof:ecs",
                    _ => "restoreproof:evidence",
                },
                "event": format::render(self.format, n),
                "fields": { "event_id": e.event_id, "seq": e.seq },
            });
            if let Some(i) = &self.index {
                ev["index"] = json!(i);
            }
            body.extend_from_slice(ev.to_string().as_bytes());
            body.push(b'\n');
        }
        body
    }

    async fn hec(&self, batch: &[Outgoing]) -> Delivery {
        let (_, answer) = match self
            .post(&self.url, self.hec_body(batch), "application/json")
            .await
        {
            Ok(r) => r,
            Err(e) => return Delivery::failed(e),
        };
        if !self.ack {
            return Delivery::all(batch.len());
        }
        let Some(ack_id) = HecAnswer::deserialize(&answer).ok().and_then(|a| a.ack_id) else {
            return Delivery::failed(SinkError::new(format!(
                "HEC answered without an ackId although ack = true (is indexer acknowledgement enabled on the token?): {answer}"
            )));
        };
        let ack_url = match self.url.find("/services/collector") {
            Some(i) => format!("{}/services/collector/ack", &self.url[..i]),
            None => format!("{}/ack", self.url.trim_end_matches('/')),
        };
        let deadline = tokio::time::Instant::now() + self.timeout.max(Duration::from_secs(60));
        let mut wait = Duration::from_millis(20);
        loop {
            let body = json!({ "acks": [ack_id] }).to_string().into_bytes();
            match self.post(&ack_url, body, "application/json").await {
                Ok((_, a))
                    if HecAcks::deserialize(&a)
                        .is_ok_and(|a| a.acks.get(&ack_id.to_string()) == Some(&true)) =>
                {
                    return Delivery::all(batch.len())
                }
                Ok(_) => {}
                Err(e) => return Delivery::failed(e),
            }
            if tokio::time::Instant::now() >= deadline {
                return Delivery::failed(SinkError::new(format!(
                    "HEC did not acknowledge ackId {ack_id} within {}s; the batch is sent again",
                    self.timeout.max(Duration::from_secs(60)).as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    async fn bulk(&self, batch: &[Outgoing]) -> Delivery {
        let index = self.index.as_deref().unwrap_or("restoreproof-evidence");
        let mut body = Vec::new();
        for e in batch {
            let action = json!({ "create": { "_index": index, "_id": e.event_id } });
            body.extend_from_slice(action.to_string().as_bytes());
            body.push(b'\n');
            body.extend_from_slice(
                format::render(self.format, &e.record)
                    .to_string()
                    .as_bytes(),
            );
            body.push(b'\n');
        }
        let (_, answer) = match self.post(&self.url, body, "application/x-ndjson").await {
            Ok(r) => r,
            Err(e) => return Delivery::failed(e),
        };
        let Some(items) = BulkAnswer::deserialize(&answer).ok().and_then(|a| a.items) else {
            return Delivery::failed(SinkError::new(format!(
                "the _bulk answer has no items: {answer}"
            )));
        };
        for (i, e) in batch.iter().enumerate() {
            let item = items.get(i).map(|it| {
                it.create
                    .clone()
                    .or_else(|| it.index.clone())
                    .unwrap_or_default()
            });
            let Some(item) = item else {
                return Delivery {
                    acknowledged: i,
                    error: Some(SinkError::new(format!(
                        "the _bulk answer has {} items for {} events",
                        items.len(),
                        batch.len()
                    ))),
                };
            };
            let status = item.status;
            if !(status == 409 || (200..300).contains(&status)) {
                return Delivery {
                    acknowledged: i,
                    error: Some(SinkError {
                        message: format!(
                            "_bulk item {} (event {}) failed with {status}: {}",
                            i + 1,
                            e.event_id,
                            item.error
                        ),
                        retry_after: None,
                        // A document the index rejects (mapping, 4xx) is
                        // rejected again; 408 and 429 pass.
                        permanent: (400..500).contains(&status) && !matches!(status, 408 | 429),
                    }),
                };
            }
        }
        Delivery::all(batch.len())
    }

    async fn webhook(&self, batch: &[Outgoing]) -> Delivery {
        let mut body = Vec::new();
        for e in batch {
            body.extend_from_slice(
                format::render(self.format, &e.record)
                    .to_string()
                    .as_bytes(),
            );
            body.push(b'\n');
        }
        match self.post(&self.url, body, "application/x-ndjson").await {
            Ok(_) => Delivery::all(batch.len()),
            Err(e) => Delivery::failed(e),
        }
    }
}

/// A reqwest error with its causes (connection refused, certificate ...).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[async_trait::async_trait]
impl Sink for HttpSink {
    async fn deliver(&mut self, batch: &[Outgoing]) -> Delivery {
        match self.protocol {
            HttpProtocol::SplunkHec => self.hec(batch).await,
            HttpProtocol::ElasticsearchBulk => self.bulk(batch).await,
            HttpProtocol::Webhook => self.webhook(batch).await,
        }
    }

    async fn check(&mut self) -> Result<String, SinkError> {
        match self.protocol {
            HttpProtocol::SplunkHec => {
                // An empty POST: HEC answers 400 "No data" when the token is
                // good, 401/403 when it is not.
                match self.post(&self.url, Vec::new(), "application/json").await {
                    Ok(_) => Ok(format!("{} accepted the token", self.url)),
                    Err(e) if e.message.contains("HTTP 400") => {
                        Ok(format!("{} accepted the token", self.url))
                    }
                    Err(e) => Err(e),
                }
            }
            HttpProtocol::ElasticsearchBulk | HttpProtocol::Webhook => {
                let url = self.url.trim_end_matches("/_bulk");
                let mut r = self.client.head(url);
                if let Some((scheme, token)) = &self.auth {
                    r = r.header("Authorization", format!("{scheme} {}", token.expose()));
                }
                let resp = r
                    .send()
                    .await
                    .map_err(|e| SinkError::new(format!("HEAD {url}: {}", describe(&e))))?;
                match resp.status().as_u16() {
                    401 | 403 => Err(SinkError::new(format!(
                        "HEAD {url}: HTTP {}; check the sink's token or password",
                        resp.status().as_u16()
                    ))),
                    s => Ok(format!("{url} answered HTTP {s}")),
                }
            }
        }
    }
}

/// HEC's answer to a batch sent with indexer acknowledgement.
#[derive(Deserialize)]
struct HecAnswer {
    #[serde(rename = "ackId")]
    ack_id: Option<u64>,
}

/// HEC's answer to an acknowledgement query: ack id → indexed.
#[derive(Deserialize)]
struct HecAcks {
    acks: std::collections::BTreeMap<String, bool>,
}

/// Elasticsearch's `_bulk` answer: one item per action, in order.
#[derive(Deserialize)]
struct BulkAnswer {
    items: Option<Vec<BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    create: Option<BulkResult>,
    index: Option<BulkResult>,
}

#[derive(Deserialize, Clone, Default)]
struct BulkResult {
    #[serde(default)]
    status: u64,
    #[serde(default)]
    error: Value,
}
