//! `[sinks.NAME]`: where evidence is shipped, validated without I/O.

mod validate;

pub use validate::validate;

use super::choice::{one_of, Choice, Choices};
use crate::config::{Age, ByteSize, SecretSource};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One sink as written. Keys that do not apply to its `kind` are problems.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    /// `syslog`, `http`, `file` or `stdout`.
    pub kind: Option<Choice<SinkType>>,
    /// `ocsf` (default), `ecs`, `native` or `cef`.
    pub format: Option<Format>,
    // syslog
    pub address: Option<String>,
    /// `tcp` (default), `tls`, `relp`, `relp_tls` or `udp`.
    pub transport: Option<Choice<Transport>>,
    pub app_name: Option<String>,
    pub facility: Option<String>,
    /// Structured-data id of the `restoreproof` SD element.
    pub sd_id: Option<String>,
    // TLS (syslog over TLS, https)
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    // http
    pub url: Option<String>,
    /// `splunk_hec`, `elasticsearch_bulk` or `webhook`.
    pub protocol: Option<Choice<HttpProtocol>>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    /// A systemd credential holding the token (or, with `username`, the password).
    pub credential: Option<String>,
    pub index: Option<String>,
    pub gzip: Option<bool>,
    /// Splunk HEC indexer acknowledgement.
    pub ack: Option<bool>,
    pub timeout: Option<Age>,
    /// Accept an `http://` URL on another host (evidence and token
    /// unencrypted).
    pub allow_plain_http: Option<bool>,
    // file
    pub path: Option<PathBuf>,
    pub max_size: Option<ByteSize>,
    pub keep: Option<u32>,
    /// `always` (default: every batch) or `never` (the OS decides).
    pub fsync: Option<Choice<Fsync>>,
    // every kind
    pub batch_events: Option<usize>,
    pub batch_bytes: Option<ByteSize>,
    /// Wait up to this long for a batch to fill before sending it.
    pub batch_interval: Option<Age>,
    /// `all` (default: one record per verdict) or `failures`: of the
    /// verdicts, only `mismatch` and `unrecoverable` (run summaries and
    /// every other record still go).
    pub verdicts: Option<Verdicts>,
}

/// Which verdict records a sink receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdicts {
    /// Every verdict.
    #[default]
    All,
    /// Only `mismatch` and `unrecoverable`: the run summary carries the
    /// counts of the rest.
    Failures,
}

/// The record a sink sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// OCSF 1.3: Compliance Finding, Scan Activity, ...
    Ocsf,
    /// Elastic Common Schema 8.
    Ecs,
    /// restoreproof's own evidence record, as in the evidence file.
    Native,
    /// ArcSight Common Event Format (a text line).
    Cef,
}

/// What kind of receiver a sink delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkType {
    Syslog,
    Http,
    File,
    Stdout,
}

impl Choices for SinkType {
    const NOUN: &'static str = "a sink kind";
    const NAMES: &'static [&'static str] = &["syslog", "http", "file", "stdout"];
}

impl SinkType {
    fn name(self) -> &'static str {
        match self {
            SinkType::Syslog => "syslog",
            SinkType::Http => "http",
            SinkType::File => "file",
            SinkType::Stdout => "stdout",
        }
    }
}

/// When a file sink syncs to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// After every batch.
    Always,
    /// When the OS decides.
    Never,
}

impl Choices for Fsync {
    const NOUN: &'static str = "a policy";
    const NAMES: &'static [&'static str] = &["always", "never"];
}

/// Syslog transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    /// RELP: the receiver acknowledges each message.
    Relp,
    /// RELP over TLS.
    RelpTls,
}

impl Choices for Transport {
    const NOUN: &'static str = "a transport";
    const NAMES: &'static [&'static str] = &["tcp", "tls", "relp", "relp_tls", "udp"];
}

impl Transport {
    /// Whether the connection is TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::RelpTls)
    }
}

/// The HTTP receiver's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpProtocol {
    SplunkHec,
    ElasticsearchBulk,
    Webhook,
}

impl Choices for HttpProtocol {
    const NOUN: &'static str = "a protocol";
    const NAMES: &'static [&'static str] = &["splunk_hec", "elasticsearch_bulk", "webhook"];
}

/// TLS settings of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// Trust these CAs (PEM) instead of the system's.
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the host).
    pub server_name: Option<String>,
}

/// HTTP authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAuth {
    None,
    /// `Authorization: Bearer` (webhook, Elasticsearch API keys use
    /// `ApiKey`: see docs/sinks.md), or `Splunk TOKEN` for HEC.
    Token(SecretSource),
    Basic {
        username: String,
        password: SecretSource,
    },
}

/// What kind of sink, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    Syslog {
        transport: Transport,
        host: String,
        port: u16,
        tls: Tls,
        app_name: String,
        facility: u8,
        sd_id: String,
    },
    Http {
        protocol: HttpProtocol,
        url: String,
        auth: HttpAuth,
        tls: Tls,
        gzip: bool,
        index: Option<String>,
        ack: bool,
        timeout: Duration,
    },
    File {
        path: PathBuf,
        max_size: u64,
        keep: u32,
        fsync: bool,
    },
    Stdout,
}

/// A validated sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    pub name: String,
    pub format: Format,
    pub kind: SinkKind,
    /// At most this many events per delivery.
    pub batch_events: usize,
    /// At most this many bytes per delivery (at least one event is sent).
    pub batch_bytes: u64,
    /// How long a batch that is not full waits for more events (0: sent at
    /// once).
    pub batch_interval: Duration,
    /// Which verdict records it receives.
    pub verdicts: Verdicts,
}

impl SinkConfig {
    /// `syslog`, `http`, `file` or `stdout`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SinkKind::Syslog { .. } => "syslog",
            SinkKind::Http { .. } => "http",
            SinkKind::File { .. } => "file",
            SinkKind::Stdout => "stdout",
        }
    }

    /// Where it delivers, for logs and status (no secrets).
    pub fn target(&self) -> String {
        match &self.kind {
            SinkKind::Syslog {
                transport,
                host,
                port,
                ..
            } => format!("{}://{host}:{port}", transport_name(*transport)),
            SinkKind::Http { url, .. } => url.clone(),
            SinkKind::File { path, .. } => path.display().to_string(),
            SinkKind::Stdout => "stdout".into(),
        }
    }
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
        Transport::Relp => "relp",
        Transport::RelpTls => "relp+tls",
    }
}
