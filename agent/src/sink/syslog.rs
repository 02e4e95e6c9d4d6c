//! RFC 5424 syslog over TCP (octet-counting framing, RFC 6587), TLS
//! (RFC 5425), RELP (plain or TLS) or UDP.
//!
//! RELP is the transport that confirms delivery: the receiver answers each
//! message with `200 OK`, and a batch is acknowledged up to the first
//! message without one. For TCP and TLS:
//!
//! A batch travels on its own connection, which is then closed gracefully:
//! the agent shuts down its sending side (a TLS close_notify first) and
//! waits for the receiver to close its side. A receiver closes only after it
//! has read everything up to the end of the stream, so a batch counts as
//! delivered when that close arrives — stronger than "written and flushed",
//! though still not an application-level acknowledgement of each message.
//! Anything short of it (a reset, a timeout) delivers the batch again;
//! receivers de-duplicate on `eventId`. Over TLS, a close without the
//! receiver's own close_notify is what rsyslog does after an error, perhaps
//! before taking what it read: it does not confirm, and the batch goes
//! again — unless the receiver is one that never sends close_notify (three
//! such closes in a row and none ever seen), whose close alone confirms
//! (see `CloseNotify`). UDP confirms nothing.

use super::config::{Format, SinkConfig, SinkKind, Transport};
use super::{format, Delivery, Outgoing, Sink, SinkError};
use crate::evidence::record::Body;
use rustls_pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SyslogSink {
    transport: Transport,
    host: String,
    port: u16,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    app_name: String,
    facility: u8,
    sd_id: String,
    format: Format,
    /// Whether this TLS receiver answers our close with a close_notify of
    /// its own (see [`CloseNotify`]).
    close_notify: std::sync::Mutex<CloseNotify>,
}

/// What a TLS receiver's close without a close_notify means. Until it is
/// known, such a close does not confirm a batch (rsyslog closes that way
/// after an error, sometimes without taking what it had read): the batch
/// goes again. A receiver seen to send close_notify keeps being held to
/// it; one that closed [`EOF_CLOSES_TO_LEARN`] connections in a row without
/// one and never sent one is taken to never send it, and its close alone
/// confirms from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseNotify {
    Unknown { eof_closes: u32 },
    Sends,
    NeverSends,
}

/// Closes without close_notify, in a row and with none ever seen, that
/// mark a receiver as one that never sends it.
const EOF_CLOSES_TO_LEARN: u32 = 3;

impl SyslogSink {
    pub fn new(cfg: &SinkConfig) -> Result<Self, SinkError> {
        let SinkKind::Syslog {
            transport,
            host,
            port,
            tls,
            app_name,
            facility,
            sd_id,
        } = &cfg.kind
        else {
            unreachable!("built from a syslog sink config")
        };
        let tls = if transport.is_tls() {
            let config = super::tls::client_config(tls)?;
            let name = tls.server_name.clone().unwrap_or_else(|| host.clone());
            let server = ServerName::try_from(name.clone())
                .map_err(|_| SinkError::new(format!("`{name}` is not a valid TLS server name")))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), server))
        } else {
            None
        };
        Ok(Self {
            transport: *transport,
            host: host.clone(),
            port: *port,
            tls,
            app_name: app_name.clone(),
            facility: *facility,
            sd_id: sd_id.clone(),
            format: cfg.format,
            close_notify: std::sync::Mutex::new(CloseNotify::Unknown { eof_closes: 0 }),
        })
    }

    /// One RFC 5424 message (no framing).
    fn message(&self, e: &Outgoing) -> String {
        let n = &e.record;
        let pri = u16::from(self.facility) * 8 + u16::from(format::syslog_severity(n));
        let time = match n.time.as_str() {
            "" => "-".to_owned(),
            t => t.to_owned(),
        };
        let host = header_field(&n.agent.host, 255);
        let msgid = header_field(&n.kind_name, 32);
        let mut sd = format!(
            "[{} eventId=\"{}\" seq=\"{}\"",
            self.sd_id,
            sd_escape(&e.event_id),
            e.seq
        );
        for (name, value) in [
            ("kind", n.kind_name.as_str()),
            ("runId", n.run_id.as_deref().unwrap_or_default()),
            ("drill", &n.drill),
            (
                "verdict",
                match &n.body {
                    Body::SampleVerdict(v) => &v.verdict_name,
                    _ => "",
                },
            ),
            (
                "status",
                match &n.body {
                    Body::RunSummary(s) => &s.status,
                    Body::PostureFinding(f) => &f.status,
                    _ => "",
                },
            ),
        ] {
            if !value.is_empty() {
                sd.push_str(&format!(" {name}=\"{}\"", sd_escape(value)));
            }
        }
        sd.push_str(&format!(
            " format=\"{}\"]",
            match self.format {
                Format::Ocsf => "ocsf",
                Format::Ecs => "ecs",
                Format::Native => "native",
                Format::Cef => "cef",
            }
        ));
        format!(
            "<{pri}>1 {time} {host} {} {} {msgid} {sd} {}",
            self.app_name,
            std::process::id(),
            format::render_line(self.format, n)
        )
    }

    async fn connect(&self) -> Result<TcpStream, SinkError> {
        let addr = (self.host.as_str(), self.port);
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
            Ok(Err(e)) => Err(SinkError::new(format!(
                "cannot connect to {}:{}: {e}",
                self.host, self.port
            ))),
            Err(_) => Err(SinkError::new(format!(
                "cannot connect to {}:{}: no answer within {}s",
                self.host,
                self.port,
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Sends `bytes` on a new connection and closes it gracefully; `Ok`
    /// when the receiver's close confirms them.
    async fn send_stream(&self, bytes: &[u8]) -> Result<(), SinkError> {
        if self.tls.is_some() {
            let mut tls = self.handshake(self.connect().await?).await?;
            let closed = exchange(&mut tls, bytes).await?;
            let mut known = self
                .close_notify
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (next, confirmed) = match (*known, closed) {
                (_, Closed::Cleanly) => (CloseNotify::Sends, true),
                (CloseNotify::NeverSends, Closed::WithoutCloseNotify) => {
                    (CloseNotify::NeverSends, true)
                }
                (CloseNotify::Sends, Closed::WithoutCloseNotify) => (CloseNotify::Sends, false),
                (CloseNotify::Unknown { eof_closes }, Closed::WithoutCloseNotify) => {
                    if eof_closes + 1 >= EOF_CLOSES_TO_LEARN {
                        tracing::info!(host = %self.host, port = self.port, "This syslog receiver closes TLS connections without a close_notify; its close confirms delivery from now on.");
                        (CloseNotify::NeverSends, true)
                    } else {
                        (
                            CloseNotify::Unknown {
                                eof_closes: eof_closes + 1,
                            },
                            false,
                        )
                    }
                }
            };
            *known = next;
            return if confirmed {
                Ok(())
            } else {
                Err(SinkError::new(format!(
                    "{}:{} closed the connection without a TLS close_notify (as rsyslog does after an error, perhaps before taking what it read); the batch is delivered again",
                    self.host, self.port
                )))
            };
        }
        // A receiver that already closed a fresh connection (seen from a
        // busy rsyslog) would make its close look like a confirmation:
        // check before sending, connect again (nothing was sent), and look
        // for a reset after.
        let mut attempt = 0;
        let mut tcp = loop {
            let tcp = self.connect().await?;
            let mut probe = [0u8; 1];
            if !matches!(tcp.try_read(&mut probe), Ok(0)) {
                break tcp;
            }
            attempt += 1;
            if attempt == 3 {
                return Err(SinkError::new(format!(
                    "{}:{} closed each new connection before anything was sent",
                    self.host, self.port
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        exchange(&mut tcp, bytes).await?;
        match tcp.take_error() {
            Ok(None) => Ok(()),
            Ok(Some(e)) | Err(e) => Err(SinkError::new(format!(
                "{}:{} reset the connection: {e}",
                self.host, self.port
            ))),
        }
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SinkError> {
        let Some((connector, name)) = &self.tls else {
            unreachable!("called for TLS transports only")
        };
        tokio::time::timeout(IO_TIMEOUT, connector.connect(name.clone(), tcp))
            .await
            .map_err(|_| SinkError::new("TLS handshake timed out"))?
            .map_err(|e| {
                SinkError::new(format!(
                    "TLS handshake with {}:{} failed: {e}",
                    self.host, self.port
                ))
            })
    }

    /// Delivers a batch over RELP on a new session.
    async fn send_relp(&self, batch: &[Outgoing]) -> Delivery {
        let tcp = match self.connect().await {
            Ok(t) => t,
            Err(e) => return Delivery::failed(e),
        };
        let messages: Vec<String> = batch.iter().map(|e| self.message(e)).collect();
        match &self.tls {
            Some(_) => match self.handshake(tcp).await {
                Ok(tls) => relp::session(tls, &messages).await,
                Err(e) => Delivery::failed(e),
            },
            None => relp::session(tcp, &messages).await,
        }
    }

    async fn send_udp(&self, batch: &[Outgoing]) -> Delivery {
        let bind = if self.host.contains(':') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let sock = match tokio::net::UdpSocket::bind(bind).await {
            Ok(s) => s,
            Err(e) => {
                return Delivery::failed(SinkError::new(format!("cannot open a UDP socket: {e}")))
            }
        };
        if let Err(e) = sock.connect((self.host.as_str(), self.port)).await {
            return Delivery::failed(SinkError::new(format!(
                "cannot reach {}:{}: {e}",
                self.host, self.port
            )));
        }
        for (i, e) in batch.iter().enumerate() {
            if let Err(err) = sock.send(self.message(e).as_bytes()).await {
                return Delivery {
                    acknowledged: i,
                    error: Some(SinkError::new(format!(
                        "cannot send to {}:{}: {err}",
                        self.host, self.port
                    ))),
                };
            }
        }
        Delivery::all(batch.len())
    }
}

/// How the receiver closed its side.
enum Closed {
    /// End of stream (over TLS: after its close_notify).
    Cleanly,
    /// Over TLS, a TCP close without a close_notify.
    WithoutCloseNotify,
}

/// Writes, shuts down the sending side and waits for the receiver's close.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    bytes: &[u8],
) -> Result<Closed, SinkError> {
    let io = |what: &str, e: std::io::Error| SinkError::new(format!("{what}: {e}"));
    tokio::time::timeout(IO_TIMEOUT, async {
        s.write_all(bytes).await.map_err(|e| io("sending", e))?;
        s.flush().await.map_err(|e| io("sending", e))?;
        s.shutdown().await.map_err(|e| io("closing", e))?;
        let mut buf = [0u8; 512];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return Ok(Closed::Cleanly),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(Closed::WithoutCloseNotify)
                }
                Err(e) => return Err(io("waiting for the receiver to close", e)),
            }
        }
    })
    .await
    .map_err(|_| {
        SinkError::new(format!(
            "the receiver did not confirm within {}s",
            IO_TIMEOUT.as_secs()
        ))
    })?
}

/// An RFC 5424 header field: printable ASCII, no spaces, at most `max`
/// characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v
    }
}

/// Escapes an SD-PARAM value (`"`, `\` and `]`).
fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait::async_trait]
impl Sink for SyslogSink {
    async fn deliver(&mut self, batch: &[Outgoing]) -> Delivery {
        match self.transport {
            Transport::Udp => return self.send_udp(batch).await,
            Transport::Relp | Transport::RelpTls => return self.send_relp(batch).await,
            Transport::Tcp | Transport::Tls => {}
        }
        let mut bytes = Vec::new();
        for e in batch {
            let m = self.message(e);
            bytes.extend_from_slice(format!("{} ", m.len()).as_bytes());
            bytes.extend_from_slice(m.as_bytes());
        }
        match self.send_stream(&bytes).await {
            Ok(()) => Delivery::all(batch.len()),
            Err(e) => Delivery::failed(e),
        }
    }

    async fn check(&mut self) -> Result<String, SinkError> {
        match self.transport {
            Transport::Udp => {
                let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| SinkError::new(format!("cannot resolve {}: {e}", self.host)))?;
                Ok(format!(
                    "{} resolves to {} (UDP confirms no delivery)",
                    self.host,
                    addrs.map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
                ))
            }
            Transport::Relp | Transport::RelpTls => {
                let d = self.send_relp(&[]).await;
                match d.error {
                    Some(e) => Err(e),
                    None => Ok(format!(
                        "opened and closed a RELP session with {}:{}",
                        self.host, self.port
                    )),
                }
            }
            Transport::Tls => {
                // Reachable whatever way it closes (nothing was sent).
                let mut tls = self.handshake(self.connect().await?).await?;
                exchange(&mut tls, &[]).await?;
                Ok(format!(
                    "connected to {}:{} and completed the TLS handshake",
                    self.host, self.port
                ))
            }
            Transport::Tcp => {
                self.send_stream(&[]).await?;
                Ok(format!("connected to {}:{}", self.host, self.port))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::config::Tls;

    #[test]
    fn messages_are_rfc5424_with_escaped_structured_data() {
        let sink = SyslogSink {
            transport: Transport::Tcp,
            host: "h".into(),
            port: 514,
            tls: None,
            app_name: "restoreproof".into(),
            facility: 16,
            sd_id: "restoreproof@32473".into(),
            format: Format::Native,
            close_notify: std::sync::Mutex::new(CloseNotify::Unknown { eof_closes: 0 }),
        };
        let _ = Tls::default();
        let e = Outgoing {
            seq: 3,
            event_id: "ev\"1]".into(),
            record: crate::evidence::record::Record::read(
                serde_json::json!({"kind": "sample_verdict", "verdict": "mismatch", "time": "2026-11-29T02:00:00.123Z",
                "agent": {"host": "vm 1"}, "drill": "d", "run_id": "r"}),
            ),
        };
        let m = sink.message(&e);
        let pid = std::process::id();
        assert!(
            m.starts_with(&format!("<131>1 2026-11-29T02:00:00.123Z vm1 restoreproof {pid} sample_verdict [restoreproof@32473 eventId=\"ev\\\"1\\]\" seq=\"3\" kind=\"sample_verdict\" runId=\"r\" drill=\"d\" verdict=\"mismatch\" format=\"native\"] {{")),
            "{m}"
        );
    }

    /// A TLS receiver that reads each connection to its end, then closes it
    /// with a close_notify of its own, or (from connection `drop_from` on)
    /// without one, as rsyslog does after an error. An in-process fake:
    /// rsyslog drops connections that way only on errors no test can cause
    /// on purpose.
    async fn receiver(drop_from: usize) -> (u16, tempfile::TempDir) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("ca");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = Vec::new();
                let _ = tls.read_to_end(&mut buf).await;
                if n < drop_from {
                    let _ = tls.shutdown().await;
                } else {
                    // The TCP close alone, no close_notify.
                    let (mut tcp, _) = tls.into_inner();
                    let _ = tcp.shutdown().await;
                }
            }
        });
        (port, dir)
    }

    fn tls_sink(port: u16, dir: &tempfile::TempDir) -> SyslogSink {
        let raw: crate::config::sink::RawSink = toml::from_str(&format!(
            "kind = \"syslog\"\ntransport = \"tls\"\naddress = \"localhost:{port}\"\nca_file = \"{}\"\n",
            dir.path().join("ca.pem").display()
        ))
        .expect("toml");
        let cfg =
            crate::config::sink::validate("t", raw, dir.path(), &mut |p, m| panic!("{p}: {m}"))
                .expect("valid");
        SyslogSink::new(&cfg).expect("sink")
    }

    fn batch() -> Vec<Outgoing> {
        vec![Outgoing {
            seq: 1,
            event_id: "e1".into(),
            record: crate::evidence::record::Record::read(
                serde_json::json!({"kind": "checkpoint", "time": "2026-12-02T10:00:00Z"}),
            ),
        }]
    }

    #[tokio::test]
    async fn a_tls_close_without_close_notify_from_a_receiver_that_sends_one_is_not_delivery() {
        // Clean closes, then one without close_notify: that batch goes again.
        let (port, dir) = receiver(2).await;
        let mut sink = tls_sink(port, &dir);
        for _ in 0..2 {
            let d = sink.deliver(&batch()).await;
            assert!(d.error.is_none(), "{:?}", d.error);
            assert_eq!(d.acknowledged, 1);
        }
        let d = sink.deliver(&batch()).await;
        assert_eq!(d.acknowledged, 0);
        let e = d.error.expect("not confirmed");
        assert!(e.message.contains("without a TLS close_notify"), "{e}");
        assert!(!e.permanent);

        // A receiver never seen to send close_notify: its first closes
        // without one do not confirm; from the third in a row it is taken
        // to never send one, and its close confirms.
        let (port, dir) = receiver(0).await;
        let mut sink = tls_sink(port, &dir);
        for _ in 0..2 {
            let d = sink.deliver(&batch()).await;
            assert_eq!(d.acknowledged, 0, "{:?}", d.error);
        }
        for _ in 0..2 {
            let d = sink.deliver(&batch()).await;
            assert!(d.error.is_none(), "{:?}", d.error);
            assert_eq!(d.acknowledged, 1);
        }
        // validate --connect reaches it either way.
        assert!(tls_sink(port, &dir).check().await.is_ok());
    }
}

/// A RELP client session (the protocol of librelp, as rsyslog's `imrelp`
/// speaks it): `open`, one `syslog` command per message, `close`; each
/// command is answered by a `rsp` frame with the same transaction number.
mod relp {
    use super::{Delivery, SinkError, IO_TIMEOUT};
    use tokio::io::{
        AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
    };

    /// Commands in flight before waiting for answers.
    const WINDOW: usize = 128;

    fn frame(txnr: usize, command: &str, data: &[u8]) -> Vec<u8> {
        let mut f = format!("{txnr} {command} {}", data.len()).into_bytes();
        if !data.is_empty() {
            f.push(b' ');
            f.extend_from_slice(data);
        }
        f.push(b'\n');
        f
    }

    fn word(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).trim().to_owned()
    }

    /// Reads one frame: (txnr, command, data).
    async fn read_frame<R: AsyncRead + Unpin>(
        r: &mut BufReader<R>,
    ) -> Result<(usize, String, Vec<u8>), SinkError> {
        let err = |m: String| SinkError::new(format!("RELP: {m}"));
        let mut txnr = Vec::new();
        r.read_until(b' ', &mut txnr)
            .await
            .map_err(|e| err(e.to_string()))?;
        if txnr.is_empty() {
            return Err(err("the receiver closed the session".into()));
        }
        let mut command = Vec::new();
        r.read_until(b' ', &mut command)
            .await
            .map_err(|e| err(e.to_string()))?;
        // DATALEN ends with a space (data follows) or the trailer.
        let mut len = Vec::new();
        loop {
            let b = r.read_u8().await.map_err(|e| err(e.to_string()))?;
            if b == b' ' || b == b'\n' {
                let n: usize = word(&len).parse().map_err(|_| err("bad DATALEN".into()))?;
                let mut data = vec![0u8; n];
                if b == b' ' {
                    r.read_exact(&mut data)
                        .await
                        .map_err(|e| err(e.to_string()))?;
                    let mut trailer = [0u8; 1];
                    r.read_exact(&mut trailer)
                        .await
                        .map_err(|e| err(e.to_string()))?;
                }
                let t: usize = word(&txnr).parse().map_err(|_| err("bad TXNR".into()))?;
                return Ok((t, word(&command), data));
            }
            len.push(b);
        }
    }

    /// Whether a `rsp` frame says `200`.
    fn ok(data: &[u8]) -> bool {
        data.starts_with(b"200")
    }

    pub async fn session<S: AsyncRead + AsyncWrite + Unpin>(
        stream: S,
        messages: &[String],
    ) -> Delivery {
        match tokio::time::timeout(IO_TIMEOUT * 2, run(stream, messages)).await {
            Ok(d) => d,
            Err(_) => Delivery::failed(SinkError::new(format!(
                "RELP: no answer within {}s",
                (IO_TIMEOUT * 2).as_secs()
            ))),
        }
    }

    fn stopped(acknowledged: usize, e: SinkError) -> Delivery {
        Delivery {
            acknowledged,
            error: Some(e),
        }
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(stream: S, messages: &[String]) -> Delivery {
        let (r, mut w) = tokio::io::split(stream);
        let mut r = BufReader::new(r);
        let offers = format!(
            "relp_version=0\nrelp_software=restoreproof,{},\ncommands=syslog",
            env!("CARGO_PKG_VERSION")
        );
        if let Err(e) = w.write_all(&frame(1, "open", offers.as_bytes())).await {
            return Delivery::failed(SinkError::new(format!("RELP open: {e}")));
        }
        match read_frame(&mut r).await {
            Ok((1, c, d)) if c == "rsp" && ok(&d) => {}
            Ok((_, _, d)) => {
                return Delivery::failed(SinkError::new(format!(
                    "RELP: the receiver refused the session: {}",
                    String::from_utf8_lossy(&d)
                )))
            }
            Err(e) => return Delivery::failed(e),
        }
        let mut acknowledged = 0usize;
        let mut sent = 0usize;
        while acknowledged < messages.len() {
            while sent < messages.len() && sent - acknowledged < WINDOW {
                let f = frame(sent + 2, "syslog", messages[sent].as_bytes());
                if let Err(e) = w.write_all(&f).await {
                    return stopped(acknowledged, SinkError::new(format!("RELP: sending: {e}")));
                }
                sent += 1;
            }
            if let Err(e) = w.flush().await {
                return stopped(acknowledged, SinkError::new(format!("RELP: sending: {e}")));
            }
            match read_frame(&mut r).await {
                Ok((t, c, d)) if c == "rsp" && t == acknowledged + 2 && ok(&d) => {
                    acknowledged += 1;
                }
                Ok((t, c, d)) => {
                    let why = format!(
                        "RELP: message {t} answered `{c} {}`",
                        String::from_utf8_lossy(&d).trim()
                    );
                    return stopped(acknowledged, SinkError::new(why));
                }
                Err(e) => return stopped(acknowledged, e),
            }
        }
        // Close the session; the messages are already acknowledged.
        let close = messages.len() + 2;
        if w.write_all(&frame(close, "close", b"")).await.is_ok() && w.flush().await.is_ok() {
            let _ = read_frame(&mut r).await;
        }
        let _ = w.shutdown().await;
        Delivery::all(messages.len())
    }
}
