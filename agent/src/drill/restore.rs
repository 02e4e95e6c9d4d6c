//! Restoring one recovery point in a restore mode (stream, local, copy)
//! and verifying it: references read first or with the body, part sizes
//! when a reference needs them, one hashing pass, the verdict.

use super::*;
use crate::source::RestoreRequest;
use crate::verify::identity::{self, Responder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What every restore of one drill shares.
pub(super) struct RestoreEnv {
    pub(super) source: Arc<dyn RecoverySource>,
    pub(super) mode: RestoreMode,
    pub(super) verify: VerifyPolicy,
    pub(super) attempts: u32,
    pub(super) timeout: Duration,
    pub(super) scratch: PathBuf,
    /// `copy` mode: where this run's copies go.
    pub(super) copy_base: String,
    pub(super) observer: Arc<dyn Observer>,
    /// Records changes to the live container before they are made.
    pub(super) mutations: tokio::sync::mpsc::UnboundedSender<MutationRequest>,
    /// The source's protection policy.
    pub(super) protection: Option<crate::config::protection::ProtectionPolicy>,
    /// Responses whose identity disagreed with the listing, by field, for
    /// the run summary's store capabilities.
    pub(super) served_other: Mutex<ServedOther>,
}

/// What the store's responses said about which object they were, over a
/// run: how many named another object than the listing, and one example.
#[derive(Debug, Default)]
pub(super) struct ServedOther {
    responses: u64,
    fields: std::collections::BTreeSet<String>,
    example: Option<String>,
}

impl ServedOther {
    /// The run summary's entry, when any response disagreed.
    pub(super) fn capability(&self) -> Option<StoreCapability> {
        let example = self.example.as_deref()?;
        Some(StoreCapability {
            call: "restore by version",
            supported: false,
            detail: format!(
                "{} response(s) named another object than the listing did for the recovery point asked for ({} differed; e.g. {example}): the store, or something between it and the agent, does not serve the version asked for; those recovery points are mismatches, and no reference from such a response counted",
                self.responses,
                self.fields.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
        })
    }
}

/// What one attempt brought back.
enum Attempted {
    Read(Box<Restored>),
    /// The references say the bytes cannot be read now (an archived
    /// storage class): `skipped` with the reason.
    NotNow {
        protection: Option<crate::verify::protection::Protection>,
        reason: String,
    },
}

/// The bytes of one successful restore attempt, and the references they
/// are compared with.
struct Restored {
    digests: crate::verify::Digests,
    attrs: StoredAttributes,
    protection: Option<crate::verify::protection::Protection>,
    /// The response's identity against the listing, and its own references
    /// set aside when it was not bound (`identity.*` and `*.response`).
    identity: Vec<Check>,
    content_length: Option<u64>,
    sse: Option<String>,
    copy: Option<CopyRecord>,
}

impl RestoreEnv {
    /// The recovery point's protection: its lock state as the response
    /// stated it, judged against the source's policy. Without a policy a
    /// response that states nothing says nothing; with one, the restore
    /// asked the store whether "nothing" means no lock or no permission to
    /// see it (`readable`).
    fn protection(
        &self,
        lock: &crate::source::LockFacts,
        readable: Option<&crate::source::LockReadable>,
    ) -> Option<crate::verify::protection::Protection> {
        if self.protection.is_none() && !lock.stated() {
            return None;
        }
        Some(crate::verify::protection::judge(
            self.protection.as_ref(),
            lock,
            readable,
            chrono::Utc::now(),
        ))
    }

    /// Restores and verifies one recovery point; never fails, every problem
    /// becomes a verdict. Also says whether to record a new baseline.
    pub(super) async fn restore_and_verify(
        &self,
        index: usize,
        c: Candidate,
        baseline: Option<Baseline>,
    ) -> (SampleResult, bool) {
        let started = Instant::now();
        let mut result = SampleResult::unrecoverable(c.clone());
        if self.mode == RestoreMode::Undelete && c.deleted.is_some() && c.version_id.is_none() {
            return self
                .undelete_and_verify(index, c, baseline, started, result)
                .await;
        }
        let scratch = self.scratch.join(format!("{index}.restore"));
        let copy_key = format!("{}{index}/{}", self.copy_base, c.key);
        // One restore per attempt, every call of it bounded by the restore
        // timeout; the source plans its requests (references first when its
        // responses carry none, or for the original of a `copy`).
        let (attempted, attempts) = with_retries(self.attempts, "restore", || {
            bounded(
                self.timeout,
                "the restore",
                self.attempt(&c, &scratch, &copy_key),
            )
        })
        .await;
        result.attempts += attempts;
        let mut restored = match attempted {
            Ok(Attempted::Read(r)) => *r,
            Ok(Attempted::NotNow { protection, reason }) => {
                result.protection = protection;
                result.verdict = Verdict::Skipped;
                result.reason = Some(reason);
                result.duration_ms = started.elapsed().as_millis() as u64;
                return (result, false);
            }
            Err(e) => return (self.failed(result, e, started), false),
        };
        let sse = restored.sse.clone();
        let judge = |r: &Restored| {
            compare(
                &c,
                &r.attrs,
                sse.as_deref(),
                r.content_length,
                &r.digests,
                baseline.as_ref(),
            )
        };
        let identity_checks = restored.identity.clone();
        let judge = |r: &Restored| {
            let mut checks = identity_checks.clone();
            checks.extend(judge(r));
            checks
        };
        result.checks = judge(&restored);
        if let Some(note) = self.confirm_layout(&c, &mut restored, &result.checks).await {
            result.checks = judge(&restored);
            for ch in &mut result.checks {
                let set_aside = ch.name.ends_with(".response");
                if ch.outcome == Outcome::NotComparable && !note.is_empty() && !set_aside {
                    ch.note = Some(match ch.note.take() {
                        Some(n) => format!("{n}; {note}"),
                        None => note.clone(),
                    });
                }
            }
        }
        result.protection = restored.protection.take();
        let d = &restored.digests;
        result.verdict = verdict(&result.checks);
        result.bytes = d.bytes;
        result.sha256 = Some(d.sha256_hex.clone());
        result.content = Some(d.content.clone());
        result.server_side_encryption = restored.sse.clone();
        result.copy = restored.copy.take();
        result.duration_ms = started.elapsed().as_millis() as u64;
        result.reason = match result.verdict {
            Verdict::Mismatch => Some(mismatch_reason(&result.checks)),
            Verdict::NoReference => Some(if baseline.is_none() {
                "no stored checksum or comparable ETag; first-seen SHA-256 baseline recorded".into()
            } else {
                "no reference could be compared".into()
            }),
            _ => None,
        };
        let new_baseline = baseline.is_none()
            && matches!(result.verdict, Verdict::Verified | Verdict::NoReference);
        (result, new_baseline)
    }

    /// A composite value that did not reproduce over part sizes taken from
    /// the first and last parts is judged only once every part's size is
    /// known: the sizes are asked part by part (at most
    /// [`crate::source::MAX_PROBED_PARTS`] requests, only on this rare path)
    /// and, when they are the ones hashed, the layout counts as reported.
    /// Returns a note for the checks that stay not comparable, or `None`
    /// when nothing needed confirming.
    async fn confirm_layout(
        &self,
        c: &Candidate,
        restored: &mut Restored,
        checks: &[Check],
    ) -> Option<String> {
        if !checks
            .iter()
            .any(|ch| ch.outcome == Outcome::NotComparable && !ch.name.ends_with(".response"))
        {
            return None;
        }
        let sizes = restored.digests.unconfirmed_layout()?.to_vec();
        let parts = sizes.len() as u32;
        let (probed, _) = with_retries(self.attempts, "part sizes", || {
            bounded(
                self.timeout,
                "asking every part's size",
                self.source.probe_every_part(c, parts),
            )
        })
        .await;
        Some(match probed {
            Ok(Some(p)) if restored.digests.confirm_layout(&p) => return Some(String::new()),
            Ok(Some(p)) => format!(
                "the parts are not evenly sized ({} bytes in parts of {})",
                p.iter().sum::<u64>(),
                p.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
            Ok(None) => format!(
                "the store cannot confirm the size of each of its {parts} parts (at most {} are asked)",
                crate::source::MAX_PROBED_PARTS
            ),
            Err(e) => format!("the part sizes could not be confirmed: {e}"),
        })
    }
}

impl RestoreEnv {
    /// Notes a response whose identity disagreed with the listing.
    fn noticed(&self, checks: &[Check]) {
        let differed: Vec<&Check> = checks
            .iter()
            .filter(|c| c.kind == ReferenceKind::Identity && c.outcome == Outcome::Mismatch)
            .collect();
        if differed.is_empty() {
            return;
        }
        let mut seen = self
            .served_other
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.responses += 1;
        for c in &differed {
            let field = c.name.rsplit('.').next().unwrap_or(&c.name);
            seen.fields.insert(field.to_owned());
        }
        if seen.example.is_none() {
            let c = differed[0];
            seen.example = Some(format!(
                "{}: listed {}, served {}",
                c.name, c.expected, c.actual
            ));
        }
    }

    pub(super) fn failed(
        &self,
        mut r: SampleResult,
        e: SourceError,
        started: Instant,
    ) -> SampleResult {
        r.verdict = match e.class {
            ErrorClass::Archived => Verdict::Skipped,
            // Not a verdict about the backup: the agent's host failed, or
            // the store refused the agent's own credentials.
            ErrorClass::Host | ErrorClass::Credentials => Verdict::Aborted,
            _ => Verdict::Unrecoverable,
        };
        r.error_class = Some(e.class);
        r.reason = Some(format!("{}: {}", e.class, e.message));
        r.duration_ms = started.elapsed().as_millis() as u64;
        r
    }

    /// One attempt. `stream`: GET the exact recovery point and hash it;
    /// `local`: write it to scratch, fsync, re-read and hash; `copy`: copy it
    /// server-side, stream-hash the copy, then remove the copy.
    async fn attempt(
        &self,
        c: &Candidate,
        scratch: &Path,
        copy_key: &str,
    ) -> Result<Attempted, SourceError> {
        if self.mode != RestoreMode::Copy {
            return self.read(c, None, scratch).await;
        }
        let copy = self.source.copy(c, copy_key).await?;
        let read = self.read(c, Some(&copy), scratch).await;
        let removed = self.source.remove_copy(&copy).await;
        if let Err(e) = &removed {
            tracing::warn!(key = %copy.key, error = %e, "Could not remove a drill copy; remove it by hand.");
        }
        let mut attempted = read?;
        if let Attempted::Read(restored) = &mut attempted {
            restored.copy = Some(CopyRecord {
                key: copy.key,
                version_id: copy.version_id,
                removed: removed.is_ok(),
                removal_error: removed.err().map(|e| e.to_string()),
            });
        }
        Ok(attempted)
    }

    /// Restores the recovery point `c` (its bytes read from `copy` when
    /// there is one) and hashes it: through a scratch file in `local` mode,
    /// straight from the stream otherwise. Each response is bound to the
    /// listing (see `verify::identity`): references read first count only
    /// from a response about `c`, and the bytes must come from the object
    /// asked for.
    async fn read(
        &self,
        c: &Candidate,
        copy: Option<&Candidate>,
        scratch: &Path,
    ) -> Result<Attempted, SourceError> {
        let verify = self.verify;
        let target = copy.unwrap_or(c);
        let bind = |a: &StoredAttributes, first: bool, content_length: Option<u64>| {
            let (who, listed) = if first {
                (Responder::Attributes, c)
            } else {
                (Responder::Body, target)
            };
            identity::bind(who, listed, a.clone(), content_length).references
        };
        let needs_part_sizes = move |a: &StoredAttributes, sse: Option<&str>| {
            Plan::new(a, sse, verify).needs_part_sizes()
        };
        let restoration = self
            .source
            .restore_point(RestoreRequest {
                point: c,
                bytes_from: copy,
                references_first: copy.is_some(),
                bind: &bind,
                needs_part_sizes: &needs_part_sizes,
                lock_policy: self.protection.is_some(),
            })
            .await?;
        let attrs = restoration.references;
        let lock_readable = restoration.lock_readable;
        let mut identity = Vec::new();
        let read_first = restoration.first.is_some();
        if let Some(first) = restoration.first {
            let bound = identity::bind(Responder::Attributes, c, first, None);
            self.noticed(&bound.checks);
            // Agreement is said by the response that carries the bytes; a
            // disagreement here is said here.
            identity.extend(
                bound
                    .checks
                    .into_iter()
                    .filter(|ch| ch.outcome == Outcome::Mismatch)
                    .chain(bound.set_aside),
            );
            let Some(body) = &restoration.body else {
                return Ok(Attempted::NotNow {
                    protection: self.protection(&attrs.lock, lock_readable.as_ref()),
                    reason: attrs
                        .archived
                        .clone()
                        .unwrap_or_else(|| "the store gave no bytes".into()),
                });
            };
            let served = body.attributes.clone().unwrap_or_default();
            let (checks, _) =
                identity::identity_checks(Responder::Body, target, &served, body.content_length);
            identity.extend(identity::compact(Responder::Body, checks));
        }
        let Some(mut body) = restoration.body else {
            return Err(SourceError::new(
                ErrorClass::Protocol,
                "the source gave neither the bytes nor their references",
            ));
        };
        if !read_first {
            let served = body.attributes.take().unwrap_or_default();
            let bound = identity::bind(Responder::Body, target, served, body.content_length);
            identity.extend(bound.checks);
            identity.extend(bound.set_aside);
        }
        self.noticed(&identity);
        let sse = body
            .server_side_encryption
            .clone()
            .or_else(|| attrs.server_side_encryption.clone());
        let mut hasher = Hasher::plan(&attrs, sse.as_deref(), self.verify);
        if self.mode == RestoreMode::Local {
            let _guard = ScratchFile(scratch.to_owned());
            local_restore(&mut body.body, scratch, &mut hasher, &*self.observer).await?;
        } else {
            while let Some(chunk) = body.body.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                self.observer.bytes(chunk.len() as u64);
            }
        }
        Ok(Attempted::Read(Box::new(Restored {
            digests: hasher.finish(),
            protection: self.protection(&attrs.lock, lock_readable.as_ref()),
            attrs,
            identity,
            content_length: body.content_length,
            sse,
            copy: None,
        })))
    }
}

/// Why a restore is a mismatch: a response that named another object
/// first (the store served a different object than it listed), then every
/// reference that disagreed with the bytes.
pub(super) fn mismatch_reason(checks: &[Check]) -> String {
    let failed = |identity: bool| {
        checks.iter().filter(move |c| {
            c.outcome == Outcome::Mismatch && (c.kind == ReferenceKind::Identity) == identity
        })
    };
    let mut parts = Vec::new();
    let served: Vec<String> = failed(true)
        .map(|c| format!("{} listed {}, served {}", c.name, c.expected, c.actual))
        .collect();
    if !served.is_empty() {
        parts.push(format!(
            "the store served a different object than it listed ({})",
            served.join("; ")
        ));
    }
    parts.extend(
        failed(false).map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.actual)),
    );
    parts.join("; ")
}

/// Creates `dir` (and its parents) with mode 0700 where it creates it.
async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Bytes free for the agent in `dir` (or its nearest existing parent).
pub(super) fn free_bytes(dir: &Path) -> Option<u64> {
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Ok(s) = rustix::fs::statvfs(d) {
            return Some(s.f_bavail.saturating_mul(s.f_frsize));
        }
        at = d.parent();
    }
    None
}

/// Removes the scratch file however the restore ends.
struct ScratchFile(PathBuf);
impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn local_restore(
    body: &mut futures::stream::BoxStream<'static, Result<bytes::Bytes, SourceError>>,
    path: &Path,
    hasher: &mut Hasher,
    observer: &dyn Observer,
) -> Result<(), SourceError> {
    let io = |what: &str, e: std::io::Error| {
        SourceError::new(
            ErrorClass::Host,
            format!(
                "{what} {}: {e}; free space in scratch_dir, make it writable by the agent, or point it elsewhere",
                path.display()
            ),
        )
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir)
            .await
            .map_err(|e| io("cannot create scratch directory for", e))?;
    }
    // Restored bytes are the organisation's data: readable by the agent only.
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(|e| io("cannot create", e))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        f.write_all(&chunk)
            .await
            .map_err(|e| io("cannot write", e))?;
        observer.bytes(chunk.len() as u64);
    }
    f.sync_all().await.map_err(|e| io("cannot fsync", e))?;
    drop(f);
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| io("cannot re-open", e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| io("cannot re-read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Restored bytes are the organisation's data: the run directory is
    /// created 0700 and the scratch file 0600, whatever the umask.
    #[tokio::test]
    async fn scratch_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run-1").join("0.restore");
        let seen = Arc::new(Mutex::new(None));
        let body = {
            let path = path.clone();
            let seen = seen.clone();
            futures::stream::iter(0..2)
                .map(move |i| {
                    if i == 1 {
                        // Mid-restore: the file and its directory exist.
                        let mode = |p: &Path| {
                            std::fs::metadata(p)
                                .map(|m| m.permissions().mode() & 0o777)
                                .ok()
                        };
                        *seen.lock().expect("lock") =
                            Some((path.parent().and_then(mode), mode(&path)));
                    }
                    Ok(bytes::Bytes::from_static(b"restored"))
                })
                .boxed()
        };
        let mut body = body;
        let mut hasher = Hasher::plan(&StoredAttributes::default(), None, VerifyPolicy::Efficient);
        local_restore(&mut body, &path, &mut hasher, &Quiet)
            .await
            .expect("restore");
        assert_eq!(
            *seen.lock().expect("lock"),
            Some((Some(0o700), Some(0o600)))
        );
        assert_eq!(hasher.bytes(), 16);
    }
}
