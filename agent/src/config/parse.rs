//! From TOML text to the raw configuration, with problems that never quote
//! the file: a syntax error by line, column and key; wrongly typed values
//! and unknown keys of every section at once, by key path.

use super::{Problem, RawConfig, RawSource};
use std::collections::BTreeMap;

/// Parses the config text into its raw form. A syntax error is the first
/// one, located by line, column and the key it sits under; wrongly typed
/// values and unknown keys are collected section by section, so every one
/// is reported at once with its key path. No message quotes the file's
/// text or a value (a broken line may hold a secret).
pub(super) fn parse_raw(text: &str) -> Result<RawConfig, Result<Vec<Problem>, String>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| Err(syntax_message(text, &e)))?;
    let mut problems = Vec::new();
    let mut raw = RawConfig::default();
    for (key, v) in table {
        match key.as_str() {
            "example" => raw.example = take(&mut problems, &key, v),
            "ledger" => raw.ledger = take(&mut problems, &key, v),
            "evidence" => raw.evidence = take(&mut problems, &key, v),
            "daemon" => raw.daemon = take(&mut problems, &key, v),
            "outbox" => raw.outbox = take(&mut problems, &key, v),
            "posture" => raw.posture = take(&mut problems, &key, v),
            "gate" => raw.gate = take(&mut problems, &key, v),
            "patch" => raw.patch = take(&mut problems, &key, v),
            "sinks" => raw.sinks = entries(&mut problems, &key, v),
            "sources" => raw.sources = sources(&mut problems, v),
            "drills" => raw.drills = entries(&mut problems, &key, v),
            "canaries" => raw.canaries = entries(&mut problems, &key, v),
            "aws_backup" => raw.aws_backup = take(&mut problems, &key, v),
            _ => problems.push(Problem {
                path: key.clone(),
                message: "is not a setting; known sections: ledger, evidence, daemon, outbox, posture, gate, patch, sinks, sources, drills, canaries, aws_backup (and `example`)".into(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(raw)
    } else {
        Err(Ok(problems))
    }
}

/// One section, as its type; a problem (and the type's default) when it
/// does not fit.
fn take<T: serde::de::DeserializeOwned + Default>(
    problems: &mut Vec<Problem>,
    at: &str,
    v: toml::Value,
) -> T {
    typed(v).unwrap_or_else(|(inner, e)| {
        problems.push(value_problem(at, &inner, &e));
        T::default()
    })
}

/// A table of named entries (`[drills.NAME]`), each as its type; a problem
/// for each that does not fit.
fn entries<T: serde::de::DeserializeOwned>(
    problems: &mut Vec<Problem>,
    at: &str,
    v: toml::Value,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let toml::Value::Table(t) = v else {
        problems.push(Problem {
            path: at.to_owned(),
            message: format!("must be a table of named entries, e.g. [{at}.NAME]"),
        });
        return out;
    };
    for (name, v) in t {
        let here = format!("{at}.{name}");
        match typed(v) {
            Ok(x) => {
                out.insert(name, x);
            }
            Err((inner, e)) => problems.push(value_problem(&here, &inner, &e)),
        }
    }
    out
}

/// `[sources.NAME]` by its `kind`, rather than through serde's tagged enum,
/// which loses the key path of a problem inside the source.
fn sources(problems: &mut Vec<Problem>, v: toml::Value) -> BTreeMap<String, RawSource> {
    let mut tagged = BTreeMap::new();
    for (name, v) in entries::<toml::Value>(problems, "sources", v) {
        let at = format!("sources.{name}");
        let mut t = match v {
            toml::Value::Table(t) => t,
            _ => {
                problems.push(Problem {
                    path: at,
                    message: "must be a table with `kind` = \"s3\" or \"azure_blob\"".into(),
                });
                continue;
            }
        };
        let kind = t.remove("kind");
        let source = match kind.as_ref().and_then(toml::Value::as_str) {
            Some("s3") => typed(toml::Value::Table(t)).map(RawSource::S3),
            Some("azure_blob") => typed(toml::Value::Table(t)).map(RawSource::AzureBlob),
            other => {
                problems.push(Problem {
                    path: format!("{at}.kind"),
                    message: match other {
                        Some(k) => {
                            format!("`{k}` is not a source kind; write \"s3\" or \"azure_blob\"")
                        }
                        None => "is missing; write kind = \"s3\" or \"azure_blob\"".into(),
                    },
                });
                continue;
            }
        };
        match source {
            Ok(s) => {
                tagged.insert(name, s);
            }
            Err((inner, e)) => problems.push(value_problem(&at, &inner, &e)),
        }
    }
    tagged
}

/// Deserializes `v`; on failure, the key path inside it where the problem
/// is and the error.
fn typed<T: serde::de::DeserializeOwned>(v: toml::Value) -> Result<T, (String, toml::de::Error)> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        (inner, e.into_inner())
    })
}

/// A problem from deserializing the value at key path `at`: the message
/// without the value it quotes, at the key path `inner` inside the value
/// (from `serde_path_to_error`).
fn value_problem(at: &str, inner: &str, e: &toml::de::Error) -> Problem {
    Problem {
        path: if inner.is_empty() || inner == "." {
            at.to_owned()
        } else {
            format!("{at}.{inner}")
        },
        message: without_values(e.message()),
    }
}

/// serde's "invalid type: string \"VALUE\", expected …" and "invalid value:
/// …" quote the value they saw; a value may be a secret, so only its type
/// stays.
fn without_values(message: &str) -> String {
    for lead in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(lead) {
            let (seen, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
            let kind = seen.split_whitespace().next().unwrap_or("value");
            return if expected.is_empty() {
                format!("{lead}{kind}")
            } else {
                format!("{lead}{kind}, expected{expected}")
            };
        }
    }
    message.to_owned()
}

/// A TOML syntax error as "line L, column C (under `key.path`): what", never
/// quoting the offending line.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return without_values(e.message());
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let mut table = String::new();
    for l in before.lines() {
        let l = l.trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        }
    }
    let this_line = text.lines().nth(line - 1).unwrap_or_default();
    let key = this_line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    let path = match (table.is_empty(), key) {
        (true, Some(k)) => format!(" (at `{k}`)"),
        (false, Some(k)) => format!(" (at `{table}.{k}`)"),
        (false, None) => format!(" (in [{table}])"),
        (true, None) => String::new(),
    };
    format!(
        "line {line}, column {column}{path}: {}",
        without_values(e.message())
    )
}
