//! Inventory reports (S3 Inventory, Azure Blob Inventory) read as a
//! population in one streaming pass, whatever their size.
//!
//! A provider finds the report (its manifest, checked against the
//! manifest's checksum) and says how each data file is written
//! ([`Format`]), what each holds ([`DataFile`]: size and MD5 to check) and
//! how a row's named columns become a recovery point ([`Dialect`]). This
//! module reads the files one after another, each as it arrives:
//!
//! - CSV (gzip or plain): the response body is hashed and decoded as it
//!   streams, rows handed on in batches; nothing but the batch in flight
//!   and the decoder's window is held;
//! - Parquet: the footer is at the end of the file, so the file is first
//!   copied (and hashed) to an unnamed temporary file in the system's
//!   temporary directory, then read a row group at a time.
//!
//! A data file whose MD5 or size differs from its manifest's fails the
//! listing with the reason; rows it already gave are in no sample, since a
//! sample is drawn only after the whole listing (and a failed listing
//! draws none).
//!
//! Rows of one key that are adjacent are grouped as a listing gives them
//! (newest first, versions behind a delete marker marked, duplicates
//! dropped). Reports need not be in key order across rows or files: the
//! sampler ranks every version by its own hash, and the coverage join looks
//! versions up when keys come out of order.

use super::{Candidate, ErrorClass, ListItem, SourceError};
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use md5::{Digest as _, Md5};
use std::future::Future;
use std::io::{Read, Write as _};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

/// Rows handed on together.
const BATCH: usize = 1024;
/// Batches waiting for the consumer, at most.
const IN_FLIGHT: usize = 4;

/// One row of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Version(Candidate),
    DeleteMarker {
        key: String,
        /// The key's current version.
        latest: bool,
        last_modified: DateTime<Utc>,
    },
}

impl Row {
    fn key(&self) -> &str {
        match self {
            Row::Version(c) => &c.key,
            Row::DeleteMarker { key, .. } => key,
        }
    }
}

/// How a report's data files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV; `header`: the first row names the columns (Azure), else the
    /// manifest does (S3).
    Csv {
        gzip: bool,
        header: bool,
    },
    Parquet,
}

/// One data file of a report and what its manifest says of it.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Where it is, as messages name it (`s3://bucket/key`, a blob URL).
    pub name: String,
    /// The MD5 the manifest gives (hex), if it gives one.
    pub md5: Option<String>,
    /// The size the manifest gives, if it gives one.
    pub size: Option<u64>,
}

/// A report found and checked, ready to read.
#[derive(Debug, Clone)]
pub struct Report {
    /// When the provider took it.
    pub as_of: DateTime<Utc>,
    pub format: Format,
    /// The columns, when the manifest names them (S3's `fileSchema`).
    pub columns: Option<Vec<String>>,
    pub files: Vec<DataFile>,
}

/// A row's fields by column position; an empty field reads as absent.
pub trait Fields {
    fn get(&self, i: usize) -> Option<&str>;

    /// The field at `i`, when the column is there.
    fn get_opt(&self, i: Option<usize>) -> Option<&str> {
        i.and_then(|i| self.get(i))
    }
}

impl Fields for csv::StringRecord {
    fn get(&self, i: usize) -> Option<&str> {
        csv::StringRecord::get(self, i).filter(|v| !v.is_empty())
    }
}

impl Fields for Vec<Option<String>> {
    fn get(&self, i: usize) -> Option<&str> {
        self.as_slice()
            .get(i)
            .and_then(Option::as_deref)
            .filter(|v| !v.is_empty())
    }
}

/// How one provider's reports name their columns and what a row means.
pub trait Dialect: Send + Sync + 'static {
    /// Where each field this reads is among `names` (as the file or the
    /// manifest gives them).
    ///
    /// # Errors
    /// A column that must be there is not (the message names it).
    fn columns(&self, names: &[String]) -> Result<Box<dyn RowReader>, String>;
}

/// Reads rows by the positions [`Dialect::columns`] found.
pub trait RowReader: Send {
    /// The row, or `None` for a row that is no recovery point of the
    /// source (another container's blob, a row outside the prefix).
    ///
    /// # Errors
    /// A field that cannot be read (the message names it).
    fn row(&self, fields: &dyn Fields) -> Result<Option<Row>, String>;
}

/// A column name compared without case, `-` or `_`: S3 CSV's `VersionId`,
/// S3 Parquet's `version_id` and Azure's `Content-MD5` / `ContentMD5` read
/// alike.
pub fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where the column `name` (any spelling [`normalized`] equates) is.
pub fn position(names: &[String], name: &str) -> Option<usize> {
    let want = normalized(name);
    names.iter().position(|n| normalized(n) == want)
}

/// A time as reports write it: RFC 3339 (S3, Azure CSV) or RFC 1123.
pub fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc2822(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The report's rows as a listing: every data file in turn, each checked
/// against its manifest entry. `open(i)` gives the body of `report.files[i]`.
pub fn list<'a, O, F, R>(
    report: Report,
    dialect: std::sync::Arc<dyn Dialect>,
    open: O,
) -> BoxStream<'a, Result<ListItem, SourceError>>
where
    O: Fn(usize) -> F + Send + 'a,
    F: Future<Output = Result<R, SourceError>> + Send + 'a,
    R: AsyncRead + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Vec<ListItem>, SourceError>>(IN_FLIGHT);
    let produce = async move {
        for (i, file) in report.files.iter().enumerate() {
            let body = match open(i).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let (file, tx2, dialect) = (file.clone(), tx.clone(), dialect.clone());
            let (format, columns) = (report.format, report.columns.clone());
            let done = tokio::task::spawn_blocking(move || {
                let bridge = tokio_util::io::SyncIoBridge::new(body);
                read_file(bridge, &file, format, columns.as_deref(), &*dialect, &tx2)
            })
            .await;
            let failed = match done {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(e) => Some(SourceError::new(
                    ErrorClass::Protocol,
                    format!("reading an inventory data file failed: {e}"),
                )),
            };
            if let Some(e) = failed {
                let _ = tx.send(Err(e)).await;
                return;
            }
            if tx.is_closed() {
                return;
            }
        }
    };
    // The producer runs as part of the stream: it ends when every file is
    // read (its sender dropped), and is dropped with the stream.
    let rows = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|batch| (batch, rx))
    })
    .flat_map(|batch| match batch {
        Ok(items) => futures::stream::iter(items.into_iter().map(Ok)).boxed(),
        Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
    });
    let driver = futures::stream::once(produce).filter_map(|()| async { None });
    futures::stream::select(rows, driver).boxed()
}

/// Hashes and counts what passes through.
struct Checked<R> {
    inner: R,
    md5: Md5,
    bytes: u64,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: Read> Checked<R> {
    /// Reads what is left (a decoder may stop before the end) and compares
    /// the whole with the manifest.
    fn finish(mut self, file: &DataFile) -> Result<(), SourceError> {
        std::io::copy(&mut self, &mut std::io::sink()).map_err(|e| network(file, &e))?;
        let md5 = hex::encode(self.md5.finalize());
        if let Some(want) = &file.md5 {
            if !md5.eq_ignore_ascii_case(want.trim()) {
                return Err(damaged(
                    file,
                    &format!("does not match its MD5 checksum in the manifest (expected {want}, got {md5})"),
                ));
            }
        }
        if let Some(want) = file.size {
            if self.bytes != want {
                return Err(damaged(
                    file,
                    &format!("is {} bytes, the manifest says {want}", self.bytes),
                ));
            }
        }
        Ok(())
    }
}

fn damaged(file: &DataFile, what: &str) -> SourceError {
    SourceError::new(
        ErrorClass::Protocol,
        format!(
            "the inventory data file {} {what}: the report is damaged; the drill does not use it",
            file.name
        ),
    )
}

fn network(file: &DataFile, e: &std::io::Error) -> SourceError {
    SourceError::new(
        ErrorClass::Network,
        format!("reading the inventory data file {}: {e}", file.name),
    )
}

fn malformed(file: &DataFile, what: &str) -> SourceError {
    SourceError::new(ErrorClass::Protocol, format!("{}: {what}", file.name))
}

/// Reads one data file, sending its rows in batches; blocking.
fn read_file(
    body: impl Read,
    file: &DataFile,
    format: Format,
    columns: Option<&[String]>,
    dialect: &dyn Dialect,
    tx: &mpsc::Sender<Result<Vec<ListItem>, SourceError>>,
) -> Result<(), SourceError> {
    let mut checked = Checked {
        inner: body,
        md5: Md5::new(),
        bytes: 0,
    };
    let mut out = Grouper::new(tx);
    match format {
        Format::Csv { gzip, header } => {
            let read = {
                let decoded: Box<dyn Read + '_> = if gzip {
                    Box::new(flate2::read::MultiGzDecoder::new(&mut checked))
                } else {
                    Box::new(&mut checked)
                };
                read_csv(decoded, file, header, columns, dialect, &mut out)
            };
            // A file that does not match its manifest is said to be
            // damaged, whatever its decoding stumbled on first.
            checked.finish(file)?;
            read?;
        }
        Format::Parquet => {
            let mut tmp = tempfile::tempfile().map_err(|e| {
                SourceError::new(
                    ErrorClass::Host,
                    format!(
                        "cannot create a temporary file for the Parquet data file {} in {}: {e}; set TMPDIR to a writable directory",
                        file.name,
                        std::env::temp_dir().display()
                    ),
                )
            })?;
            std::io::copy(&mut checked, &mut tmp).map_err(|e| network(file, &e))?;
            tmp.flush().map_err(|e| network(file, &e))?;
            checked.finish(file)?;
            read_parquet(tmp, file, dialect, &mut out)?;
        }
    }
    out.finish()
}

fn read_csv(
    body: impl Read,
    file: &DataFile,
    header: bool,
    columns: Option<&[String]>,
    dialect: &dyn Dialect,
    out: &mut Grouper<'_>,
) -> Result<(), SourceError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(header)
        .flexible(true)
        .from_reader(body);
    let names: Vec<String> = if header {
        reader
            .headers()
            .map_err(|e| malformed(file, &format!("the header row: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect()
    } else {
        columns.map(<[String]>::to_vec).unwrap_or_default()
    };
    let rows = dialect.columns(&names).map_err(|m| malformed(file, &m))?;
    let mut record = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(malformed(file, &format!("row {}: {e}", n + 1))),
        }
        n += 1;
        match rows.row(&record) {
            Ok(Some(row)) => out.push(row)?,
            Ok(None) => {}
            Err(m) => return Err(malformed(file, &format!("row {n}: {m}"))),
        }
    }
}

fn read_parquet(
    tmp: std::fs::File,
    file: &DataFile,
    dialect: &dyn Dialect,
    out: &mut Grouper<'_>,
) -> Result<(), SourceError> {
    use parquet::file::reader::{FileReader as _, SerializedFileReader};
    let reader = SerializedFileReader::new(tmp)
        .map_err(|e| malformed(file, &format!("not a Parquet file: {e}")))?;
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    let rows = dialect.columns(&names).map_err(|m| malformed(file, &m))?;
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| malformed(file, &e.to_string()))?;
    for (n, row) in iter.enumerate() {
        let row = row.map_err(|e| malformed(file, &format!("row {}: {e}", n + 1)))?;
        let fields: Vec<Option<String>> = row
            .get_column_iter()
            .map(|(_, f)| parquet_text(f))
            .collect();
        match rows.row(&fields) {
            Ok(Some(row)) => out.push(row)?,
            Ok(None) => {}
            Err(m) => return Err(malformed(file, &format!("row {}: {m}", n + 1))),
        }
    }
    Ok(())
}

/// A Parquet value as the CSV form of the same report writes it.
fn parquet_text(f: &parquet::record::Field) -> Option<String> {
    use parquet::record::Field;
    let millis = |ms: i64| {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    match f {
        Field::Null => None,
        Field::Bool(b) => Some(b.to_string()),
        Field::Str(s) => Some(s.clone()),
        Field::Bytes(b) => Some(String::from_utf8_lossy(b.data()).into_owned()),
        Field::TimestampMillis(ms) => millis(*ms),
        Field::TimestampMicros(us) => millis(us.div_euclid(1000)),
        Field::Byte(v) => Some(v.to_string()),
        Field::Short(v) => Some(v.to_string()),
        Field::Int(v) => Some(v.to_string()),
        Field::Long(v) => Some(v.to_string()),
        Field::UByte(v) => Some(v.to_string()),
        Field::UShort(v) => Some(v.to_string()),
        Field::UInt(v) => Some(v.to_string()),
        Field::ULong(v) => Some(v.to_string()),
        other => Some(other.to_string()),
    }
}

/// Groups the adjacent rows of one key as a listing gives them and sends
/// them on in batches.
struct Grouper<'a> {
    tx: &'a mpsc::Sender<Result<Vec<ListItem>, SourceError>>,
    group: Vec<Row>,
    batch: Vec<ListItem>,
}

impl<'a> Grouper<'a> {
    fn new(tx: &'a mpsc::Sender<Result<Vec<ListItem>, SourceError>>) -> Self {
        Self {
            tx,
            group: Vec::new(),
            batch: Vec::with_capacity(BATCH),
        }
    }

    fn push(&mut self, row: Row) -> Result<(), SourceError> {
        if self.group.first().is_some_and(|g| g.key() != row.key()) {
            self.flush_group()?;
        }
        self.group.push(row);
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), SourceError> {
        let rows = std::mem::take(&mut self.group);
        self.batch.extend(in_listing_order(rows));
        if self.batch.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), SourceError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.blocking_send(Ok(batch)).map_err(|_| {
            // The listing was dropped (the drill stopped): nothing to report.
            SourceError::new(ErrorClass::Protocol, "the listing was abandoned")
        })
    }

    fn finish(mut self) -> Result<(), SourceError> {
        self.flush_group()?;
        if !self.batch.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

/// The rows of one key as a listing gives them: newest first, a version
/// whose key's current version is a delete marker marked as behind it, a
/// row the report repeats given once.
pub fn in_listing_order(rows: Vec<Row>) -> Vec<ListItem> {
    let hidden = rows
        .iter()
        .any(|r| matches!(r, Row::DeleteMarker { latest: true, .. }));
    let mut seen = std::collections::HashSet::new();
    let mut items: Vec<ListItem> = rows
        .into_iter()
        .filter_map(|r| match r {
            Row::Version(mut c) => {
                if !seen.insert(c.point_id()) {
                    return None;
                }
                c.behind_delete_marker = hidden;
                Some(ListItem::Version(c))
            }
            Row::DeleteMarker {
                key, last_modified, ..
            } => Some(ListItem::DeleteMarker { key, last_modified }),
        })
        .collect();
    items.sort_by_key(|i| {
        std::cmp::Reverse(match i {
            ListItem::Version(c) => c.last_modified,
            ListItem::DeleteMarker { last_modified, .. } => *last_modified,
        })
    });
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_compare_without_case_dashes_or_underscores() {
        let names: Vec<String> = ["Bucket", "version_id", "Content-MD5", "e_tag"]
            .map(String::from)
            .to_vec();
        assert_eq!(position(&names, "VersionId"), Some(1));
        assert_eq!(position(&names, "ContentMD5"), Some(2));
        assert_eq!(position(&names, "ETag"), Some(3));
        assert_eq!(position(&names, "Key"), None);
        assert!(time("2026-12-01T10:00:00.000Z").is_some());
        assert!(time("Tue, 01 Dec 2026 10:00:00 GMT").is_some());
        assert!(time("yesterday").is_none());
    }

    #[test]
    fn a_keys_rows_come_newest_first_once_each_behind_a_current_delete_marker() {
        let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        let v = |id: &str, s: i64| {
            Row::Version(Candidate {
                key: "k".into(),
                version_id: Some(id.into()),
                last_modified: at(s),
                ..Candidate::default()
            })
        };
        let rows = vec![
            v("old", 1),
            Row::DeleteMarker {
                key: "k".into(),
                latest: true,
                last_modified: at(3),
            },
            v("new", 2),
            v("old", 1),
        ];
        let items = in_listing_order(rows);
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[0], ListItem::DeleteMarker { .. }));
        let ListItem::Version(c) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(c.version_id.as_deref(), Some("new"));
        assert!(c.behind_delete_marker);
    }
}
