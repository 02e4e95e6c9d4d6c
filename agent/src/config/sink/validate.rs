//! Validation of one `[sinks.NAME]`: every problem with its key path, no
//! I/O.

use super::*;
use crate::config::choice::choose;
use crate::config::defaults::sink as d;
use crate::config::resolve_path;

/// Syslog facility names (RFC 5424 numbers).
const FACILITIES: &[(&str, u8)] = &[
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("authpriv", 10),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Validates one sink. Every problem goes to `problem` with its key path —
/// all of them, not only the first — and any problem means no sink.
pub fn validate(
    name: &str,
    raw: RawSink,
    base: &Path,
    problem: &mut dyn FnMut(String, &str),
) -> Option<SinkConfig> {
    let mut v = Check {
        at: format!("sinks.{name}"),
        ok: true,
        problem,
    };
    let keys = Keys::of(&raw);
    let format = raw.format.unwrap_or(Format::Ocsf);
    let batch_events = raw.batch_events.unwrap_or(d::BATCH_EVENTS);
    if !(1..=10_000).contains(&batch_events) {
        v.bad("batch_events", "must be between 1 and 10000");
    }
    let batch_bytes = raw.batch_bytes.map_or(d::BATCH_BYTES, |b| b.0);
    if batch_bytes < 1024 {
        v.bad("batch_bytes", "must be at least 1KiB");
    }
    let batch_interval = raw.batch_interval.map_or(Duration::ZERO, |a| a.0);
    if batch_interval > Duration::from_secs(3600) {
        v.bad("batch_interval", "must be at most 1h");
    }
    let kind = match &raw.kind {
        Some(k) => k.get(&v.key("kind"), &mut *v.problem),
        None => {
            v.bad(
                "kind",
                &format!("is missing; write kind = {}", one_of(SinkType::NAMES)),
            );
            None
        }
    };
    let kind = kind?;
    let sink_kind = match kind {
        SinkType::Syslog => syslog(&raw, base, &mut v, &keys)?,
        SinkType::Http => http(&raw, base, &mut v, &keys, format)?,
        SinkType::File => file(&raw, base, &mut v, &keys)?,
        SinkType::Stdout => {
            for k in [&keys.syslog, &keys.http, &keys.file, &keys.tls] {
                v.not_for(kind, k);
            }
            SinkKind::Stdout
        }
    };
    v.ok.then(|| SinkConfig {
        name: name.to_owned(),
        format,
        kind: sink_kind,
        batch_events,
        batch_bytes,
        batch_interval,
        verdicts: raw.verdicts.unwrap_or_default(),
    })
}

/// The keys each kind of sink takes that are set, to name those set on a
/// sink of another kind.
struct Keys {
    syslog: Vec<&'static str>,
    tls: Vec<&'static str>,
    http: Vec<&'static str>,
    file: Vec<&'static str>,
}

impl Keys {
    fn of(raw: &RawSink) -> Self {
        let r = raw;
        let set = |keys: &[(&'static str, bool)]| -> Vec<&'static str> {
            keys.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect()
        };
        let syslog_keys = set(&[
            ("address", r.address.is_some()),
            ("transport", r.transport.is_some()),
            ("app_name", r.app_name.is_some()),
            ("facility", r.facility.is_some()),
            ("sd_id", r.sd_id.is_some()),
        ]);
        let tls_keys = set(&[
            ("ca_file", r.ca_file.is_some()),
            ("client_cert_file", r.client_cert_file.is_some()),
            ("client_key_file", r.client_key_file.is_some()),
            ("server_name", r.server_name.is_some()),
        ]);
        let http_keys = set(&[
            ("url", r.url.is_some()),
            ("protocol", r.protocol.is_some()),
            ("token_file", r.token_file.is_some()),
            ("token_env", r.token_env.is_some()),
            ("username", r.username.is_some()),
            ("password_file", r.password_file.is_some()),
            ("password_env", r.password_env.is_some()),
            ("credential", r.credential.is_some()),
            ("index", r.index.is_some()),
            ("gzip", r.gzip.is_some()),
            ("ack", r.ack.is_some()),
            ("timeout", r.timeout.is_some()),
            ("allow_plain_http", r.allow_plain_http.is_some()),
        ]);
        let file_keys = set(&[
            ("path", r.path.is_some()),
            ("max_size", r.max_size.is_some()),
            ("keep", r.keep.is_some()),
            ("fsync", r.fsync.is_some()),
        ]);
        Self {
            syslog: syslog_keys,
            tls: tls_keys,
            http: http_keys,
            file: file_keys,
        }
    }
}

/// A `syslog` sink: transport, address, facility, APP-NAME and SD-ID.
fn syslog(raw: &RawSink, base: &Path, v: &mut Check<'_>, keys: &Keys) -> Option<SinkKind> {
    let kind = SinkType::Syslog;
    v.not_for(kind, &keys.http);
    v.not_for(kind, &keys.file);
    let transport = v.choose(raw.transport.as_ref(), Transport::Tcp, "transport");
    if transport.is_some_and(|t| !t.is_tls()) {
        v.not_for(kind, &keys.tls);
    }
    let address = raw.address.as_deref().and_then(split_host_port);
    if address.is_none() {
        v.bad(
            "address",
            "must be HOST:PORT, e.g. `siem.example.com:6514` (`[::1]:514` for IPv6)",
        );
    }
    let f = raw.facility.as_deref().unwrap_or(d::FACILITY);
    let facility = FACILITIES.iter().find(|(n, _)| *n == f).map(|(_, n)| *n);
    if facility.is_none() {
        let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
        v.bad(
            "facility",
            &format!("`{f}` is not a facility; write {}", one_of(&names)),
        );
    }
    let app_name = raw.app_name.clone().unwrap_or_else(|| d::APP_NAME.into());
    if app_name.is_empty() || app_name.len() > 48 || !app_name.chars().all(|c| c.is_ascii_graphic())
    {
        v.bad(
            "app_name",
            "must be 1 to 48 printable ASCII characters without spaces (RFC 5424 APP-NAME)",
        );
    }
    let sd_id = raw.sd_id.clone().unwrap_or_else(|| d::SD_ID.into());
    if sd_id.is_empty()
        || sd_id.len() > 32
        || !sd_id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"' | ' '))
    {
        v.bad(
            "sd_id",
            "must be 1 to 32 printable ASCII characters without `=`, `]`, `\"` or spaces (RFC 5424 SD-ID), e.g. `restoreproof@32473`",
        );
    }
    match (transport, address, facility) {
        (Some(transport), Some((host, port)), Some(facility)) => Some(SinkKind::Syslog {
            transport,
            host,
            port,
            tls: tls(raw, base),
            app_name,
            facility,
            sd_id,
        }),
        _ => None,
    }
}

/// An `http` sink: protocol, URL, authentication and what each protocol
/// accepts.
fn http(
    raw: &RawSink,
    base: &Path,
    v: &mut Check<'_>,
    keys: &Keys,
    format: Format,
) -> Option<SinkKind> {
    let kind = SinkType::Http;
    v.not_for(kind, &keys.syslog);
    v.not_for(kind, &keys.file);
    let protocol = match &raw.protocol {
        Some(p) => p.get(&v.key("protocol"), &mut *v.problem),
        None => {
            v.bad(
                "protocol",
                &format!("is missing; write {}", one_of(HttpProtocol::NAMES)),
            );
            None
        }
    };
    let url = raw.url.clone().unwrap_or_default();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.len() < 10 {
        v.bad(
            "url",
            "must be an http:// or https:// URL, e.g. `https://splunk.example.com:8088/services/collector/event`",
        );
    }
    let authority = url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        v.bad(
            "url",
            "must not carry credentials (`user:password@`): they would show in logs; use username with password_file, password_env or credential",
        );
    }
    if url.starts_with("http://") {
        v.not_for(kind, &keys.tls);
    }
    if crate::config::plain_http_off_host(&url) && raw.allow_plain_http != Some(true) {
        v.bad(
            "url",
            "is plain http to another host: evidence and any token cross the network unencrypted; use https://, or set allow_plain_http = true on a trusted network",
        );
    }
    if format == Format::Cef {
        v.bad(
            "format",
            "`cef` is a text line for syslog, file or stdout sinks; use `ocsf`, `ecs` or `native` over HTTP",
        );
    }
    let auth = http_auth(raw, base, v);
    let ack = raw.ack.unwrap_or(false);
    if let Some(protocol) = protocol {
        if protocol == HttpProtocol::SplunkHec && auth == Some(HttpAuth::None) {
            v.bad(
                "token_file",
                "Splunk HEC needs its token: token_file, token_env or credential",
            );
        }
        if ack && protocol != HttpProtocol::SplunkHec {
            v.bad("ack", "indexer acknowledgement is a Splunk HEC feature");
        }
        if raw.index.is_some() && protocol == HttpProtocol::Webhook {
            v.bad("index", "does not apply to a webhook");
        }
    }
    let timeout = raw.timeout.map_or(d::HTTP_TIMEOUT, |a| a.0);
    if timeout.is_zero() {
        v.bad("timeout", "must be longer than 0s");
    }
    let (Some(protocol), Some(auth)) = (protocol, auth) else {
        return None;
    };
    let index = match protocol {
        HttpProtocol::ElasticsearchBulk => Some(
            raw.index
                .clone()
                .unwrap_or_else(|| d::ELASTICSEARCH_INDEX.into()),
        ),
        _ => raw.index.clone(),
    };
    Some(SinkKind::Http {
        protocol,
        url,
        auth,
        tls: tls(raw, base),
        gzip: raw.gzip.unwrap_or(false),
        index,
        ack,
        timeout,
    })
}

/// A `file` sink: path, rotation and fsync.
fn file(raw: &RawSink, base: &Path, v: &mut Check<'_>, keys: &Keys) -> Option<SinkKind> {
    let kind = SinkType::File;
    v.not_for(kind, &keys.syslog);
    v.not_for(kind, &keys.http);
    v.not_for(kind, &keys.tls);
    let path = raw.path.as_deref().filter(|p| !p.as_os_str().is_empty());
    if path.is_none() {
        v.bad(
            "path",
            "a file sink needs `path`, e.g. `/var/log/restoreproof/evidence-ocsf.jsonl`",
        );
    }
    let max_size = raw.max_size.map_or(d::FILE_MAX_SIZE, |b| b.0);
    if max_size < 4096 {
        v.bad("max_size", "must be at least 4KiB");
    }
    let keep = raw.keep.unwrap_or(d::FILE_KEEP);
    if keep > 1000 {
        v.bad("keep", "must be at most 1000");
    }
    let fsync = v.choose(raw.fsync.as_ref(), Fsync::Always, "fsync");
    let (Some(path), Some(fsync)) = (path, fsync) else {
        return None;
    };
    Some(SinkKind::File {
        path: resolve_path(base, path),
        max_size,
        keep,
        fsync: fsync == Fsync::Always,
    })
}

/// Where a sink's problems go, and whether there was one.
struct Check<'a> {
    at: String,
    ok: bool,
    problem: &'a mut dyn FnMut(String, &str),
}

impl Check<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.at)
    }

    /// Names every key in `keys` as one that does not apply to `kind`.
    fn not_for(&mut self, kind: SinkType, keys: &[&str]) {
        for k in keys {
            self.bad(k, &format!("does not apply to a `{}` sink", kind.name()));
        }
    }

    fn bad(&mut self, k: &str, message: &str) {
        let at = self.key(k);
        (self.problem)(at, message);
        self.ok = false;
    }

    fn choose<T: Choices>(&mut self, value: Option<&Choice<T>>, default: T, k: &str) -> Option<T> {
        let at = self.key(k);
        let v = choose(value, default, &at, &mut *self.problem);
        self.ok &= v.is_some();
        v
    }
}

/// The HTTP sink's authentication: a token, a username with a password, or
/// none; each secret given once.
fn http_auth(raw: &RawSink, base: &Path, v: &mut Check<'_>) -> Option<HttpAuth> {
    let secrets = [
        raw.token_file.is_some(),
        raw.token_env.is_some(),
        raw.password_file.is_some(),
        raw.password_env.is_some(),
        raw.credential.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if secrets > 1 {
        v.bad(
            "token_file",
            "give the token or password once: token_file, token_env, password_file, password_env or credential",
        );
        return None;
    }
    let from = |file: &Option<PathBuf>, env: &Option<String>| {
        if let Some(f) = file {
            Some(SecretSource::File(resolve_path(base, f)))
        } else if let Some(e) = env {
            Some(SecretSource::Env(e.clone()))
        } else {
            raw.credential.clone().map(SecretSource::SystemdCredential)
        }
    };
    match &raw.username {
        Some(u) => match from(&raw.password_file, &raw.password_env) {
            Some(password) if raw.token_file.is_none() && raw.token_env.is_none() => {
                Some(HttpAuth::Basic {
                    username: u.clone(),
                    password,
                })
            }
            _ => {
                v.bad(
                    "username",
                    "basic authentication needs password_file, password_env or credential (and no token)",
                );
                None
            }
        },
        None if raw.password_file.is_some() || raw.password_env.is_some() => {
            v.bad("password_file", "a password needs `username`");
            None
        }
        None => Some(from(&raw.token_file, &raw.token_env).map_or(HttpAuth::None, HttpAuth::Token)),
    }
}

fn tls(raw: &RawSink, base: &Path) -> Tls {
    Tls {
        ca_file: raw.ca_file.as_deref().map(|p| resolve_path(base, p)),
        client_cert_file: raw
            .client_cert_file
            .as_deref()
            .map(|p| resolve_path(base, p)),
        client_key_file: raw
            .client_key_file
            .as_deref()
            .map(|p| resolve_path(base, p)),
        server_name: raw.server_name.clone(),
    }
}

/// `host:port` or `[v6]:port`.
fn split_host_port(a: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, p)
    } else {
        a.rsplit_once(':')?
    };
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    (!host.is_empty() && !host.contains(':') || a.starts_with('[')).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml: &str) -> (Option<SinkConfig>, Vec<String>) {
        let raw: RawSink = toml::from_str(toml).expect("toml");
        let mut problems = Vec::new();
        let c = validate("siem", raw, Path::new("/etc/restoreproof"), &mut |p, m| {
            problems.push(format!("{p}: {m}"))
        });
        (c, problems)
    }

    #[test]
    fn a_tls_syslog_sink_resolves_paths_and_defaults() {
        let (c, p) = check(
            "kind = \"syslog\"\naddress = \"siem.example.com:6514\"\ntransport = \"tls\"\nca_file = \"ca.pem\"\n",
        );
        assert!(p.is_empty(), "{p:?}");
        let c = c.expect("valid");
        assert_eq!(c.format, Format::Ocsf);
        match c.kind {
            SinkKind::Syslog {
                transport,
                host,
                port,
                tls,
                facility,
                ..
            } => {
                assert_eq!(
                    (transport, host.as_str(), port, facility),
                    (Transport::Tls, "siem.example.com", 6514, 16)
                );
                assert_eq!(
                    tls.ca_file.as_deref(),
                    Some(Path::new("/etc/restoreproof/ca.pem"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_sinks_name_the_key_and_the_fix() {
        for (toml, want) in [
            ("kind = \"kafka\"", "sinks.siem.kind: `kafka` is not a sink kind"),
            ("kind = \"syslog\"\naddress = \"siem\"", "sinks.siem.address: must be HOST:PORT"),
            ("kind = \"syslog\"\naddress = \"h:514\"\nca_file = \"x\"", "sinks.siem.ca_file: does not apply to a `syslog` sink"),
            ("kind = \"syslog\"\naddress = \"h:514\"\nurl = \"http://x\"", "sinks.siem.url: does not apply"),
            ("kind = \"syslog\"\naddress = \"h:514\"\nfacility = \"kern2\"", "`kern2` is not a facility"),
            ("kind = \"http\"\nurl = \"https://h/x\"", "sinks.siem.protocol: is missing; write `splunk_hec`"),
            ("kind = \"http\"\nprotocol = \"splunk_hec\"\nurl = \"https://h:8088/services/collector/event\"", "Splunk HEC needs its token"),
            ("kind = \"http\"\nprotocol = \"webhook\"\nurl = \"ftp://h\"", "sinks.siem.url: must be an http:// or https:// URL"),
            ("kind = \"http\"\nprotocol = \"webhook\"\nurl = \"https://h/hook\"\nformat = \"cef\"", "`cef` is a text line"),
            ("kind = \"http\"\nprotocol = \"webhook\"\nurl = \"https://h/hook\"\nusername = \"u\"", "basic authentication needs password_file"),
            ("kind = \"file\"", "sinks.siem.path: a file sink needs `path`"),
            ("kind = \"http\"\nprotocol = \"webhook\"\nurl = \"https://u:p@h/hook\"", "must not carry credentials"),
            ("kind = \"stdout\"\nbatch_events = 0", "sinks.siem.batch_events: must be between 1 and 10000"),
        ] {
            let (c, p) = check(toml);
            assert!(c.is_none(), "{toml}");
            assert!(p.iter().any(|x| x.contains(want)), "{toml}: want {want:?} in {p:?}");
        }
    }

    #[test]
    fn every_problem_of_a_sink_is_reported_at_once() {
        let (c, p) = check(
            "kind = \"syslog\"\ntransport = \"carrier-pigeon\"\naddress = \"nowhere\"\n\
             facility = \"kern2\"\napp_name = \"two words\"\nbatch_events = 0\nurl = \"https://x/y\"\n",
        );
        assert!(c.is_none());
        let keys: Vec<&str> = p.iter().map(|x| x.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "sinks.siem.batch_events",
                "sinks.siem.url",
                "sinks.siem.transport",
                "sinks.siem.address",
                "sinks.siem.facility",
                "sinks.siem.app_name",
            ],
            "{p:#?}"
        );
        assert!(p[2].ends_with("`carrier-pigeon` is not a transport; write `tcp`, `tls`, `relp`, `relp_tls` or `udp`"), "{p:?}");
        let (_, p) = check("kind = \"file\"\nfsync = \"sometimes\"\nkeep = 5000\n");
        assert_eq!(p.len(), 3, "{p:?}");
        let (_, p) = check("format = \"ocsf\"\n");
        assert_eq!(
            p,
            ["sinks.siem.kind: is missing; write kind = `syslog`, `http`, `file` or `stdout`"]
        );
    }

    #[test]
    fn http_auth_is_read_from_a_file_env_or_credential() {
        let (c, p) = check(
            "kind = \"http\"\nprotocol = \"splunk_hec\"\nurl = \"https://h:8088/services/collector/event\"\ntoken_file = \"hec.token\"\nack = true\n",
        );
        assert!(p.is_empty(), "{p:?}");
        match c.expect("valid").kind {
            SinkKind::Http { auth, ack, .. } => {
                assert_eq!(
                    auth,
                    HttpAuth::Token(SecretSource::File("/etc/restoreproof/hec.token".into()))
                );
                assert!(ack);
            }
            other => panic!("{other:?}"),
        }
        let (c, _) = check(
            "kind = \"http\"\nprotocol = \"elasticsearch_bulk\"\nurl = \"https://es:9200\"\nusername = \"rp\"\ncredential = \"es-password\"\n",
        );
        match c.expect("valid").kind {
            SinkKind::Http { auth, index, .. } => {
                assert_eq!(
                    auth,
                    HttpAuth::Basic {
                        username: "rp".into(),
                        password: SecretSource::SystemdCredential("es-password".into())
                    }
                );
                assert_eq!(index.as_deref(), Some("restoreproof-evidence"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn addresses_parse_with_ipv6() {
        assert_eq!(split_host_port("h:514"), Some(("h".into(), 514)));
        assert_eq!(split_host_port("[::1]:6514"), Some(("::1".into(), 6514)));
        assert_eq!(split_host_port("::1:514"), None);
        assert_eq!(split_host_port("h:0"), None);
        assert_eq!(split_host_port("h"), None);
    }
}
