//! Standard output for commands. A reader that goes away (`| head`,
//! `| true`) ends the output, never the command: the rest is dropped, and
//! the command carries on to its own exit code (0, 1 or 2) instead of
//! panicking on a broken pipe.

use serde::Serialize;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// The reader went away (or stdout failed): nothing more is written.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// A `--json` document was written, so an error must not add a second.
static DOCUMENT: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output as it is.
pub fn write(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!(
                "warning: cannot write to standard output: {e}; the rest of the output is dropped"
            );
        }
    }
}

/// The schema id each `--json` document carries in `schema`; a document's
/// JSON Schema is `docs/schemas/NAME.schema.json`. A field is only ever
/// added within a version; removing or changing one makes a new version.
pub mod schema {
    pub const DRILL: &str = "restoreproof.drill/v1";
    pub const DRILL_PLAN: &str = "restoreproof.drill-plan/v1";
    pub const MERGE: &str = "restoreproof.merge/v1";
    pub const STATUS: &str = "restoreproof.status/v1";
    pub const GATE: &str = "restoreproof.gate/v1";
    pub const CANARY: &str = "restoreproof.canary/v1";
    pub const PATCH: &str = "restoreproof.patch/v1";
    pub const REPORT: &str = "restoreproof.report/v1";
    pub const VALIDATE: &str = "restoreproof.validate/v1";
    pub const SHIP: &str = "restoreproof.ship/v1";
    pub const RESTORE_TESTING: &str = "restoreproof.restore-testing/v1";
    pub const COLLECT: &str = "restoreproof.collect/v1";
    pub const POSTURE: &str = "restoreproof.posture/v1";
    pub const VERIFY: &str = "restoreproof.verify/v1";
    pub const PROOF_CHECK: &str = "restoreproof.proof-check/v1";
    pub const ERROR: &str = "restoreproof.error/v1";
}

/// Writes a `--json` document of schema `id`: `document` (an object) with
/// `schema` added first.
pub fn json_doc<T: Serialize + ?Sized>(id: &str, document: &T) {
    let mut doc = serde_json::Map::new();
    doc.insert("schema".into(), id.into());
    match serde_json::to_value(document) {
        Ok(serde_json::Value::Object(m)) => doc.extend(m),
        Ok(other) => {
            doc.insert("value".into(), other);
        }
        Err(e) => {
            doc.insert(
                "error".into(),
                format!("cannot serialise the output: {e}").into(),
            );
        }
    }
    json(&serde_json::Value::Object(doc));
}

/// Writes a whole `--json` document (pretty, with a final newline).
pub fn json<T: Serialize + ?Sized>(document: &T) {
    let text = serde_json::to_string_pretty(document).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot serialise the output: {e}") }).to_string()
    });
    document_started();
    write(&text);
    write("\n");
}

/// Says that a `--json` document has begun (streamed output).
pub fn document_started() {
    DOCUMENT.store(true, Ordering::Relaxed);
}

/// Whether a `--json` document was begun.
pub fn document_written() -> bool {
    DOCUMENT.load(Ordering::Relaxed)
}

/// `println!` to [`write()`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::commands::out::write("\n")
    };
    ($($arg:tt)*) => {
        $crate::commands::out::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to [`write()`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::out::write(&format!($($arg)*))
    };
}
