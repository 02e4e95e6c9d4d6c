//! The roles a source plays: the population (`Lister`), the restores
//! (`Restorer`) and the changes to the store (`Mutator`); `RecoverySource` is
//! all three.

use super::*;

/// The population of a source: what a drill samples from. Today a paged
/// listing; an inventory reader or a parallel listing is another lister.
pub trait Lister: Send + Sync + fmt::Debug {
    /// A stable description for evidence: kind, location, no secrets.
    fn describe(&self) -> SourceInfo;

    /// Streams every version under the source's prefix, page by page, in the
    /// provider's order; memory stays bounded by one page.
    ///
    /// # Errors
    /// Yields a [`SourceError`] when a page cannot be listed after retries;
    /// the stream ends after it.
    fn list(&self) -> BoxStream<'_, Result<ListItem, SourceError>>;

    /// When the population the last `list` gave was taken, when it came
    /// from a report (an inventory) rather than a listing of the store as
    /// it is now.
    fn population_as_of(&self) -> Option<DateTime<Utc>> {
        None
    }

    /// How the population was obtained: `listing`, `parallel_listing` (a
    /// listing fanned out over key prefixes) or `inventory` (a report taken
    /// at [`Lister::population_as_of`]).
    fn population_from(&self) -> &'static str {
        if self.population_as_of().is_some() {
            "inventory"
        } else {
            "listing"
        }
    }
}

/// What a drill asks of one restore.
#[derive(Clone, Copy)]
pub struct RestoreRequest<'a> {
    /// The recovery point whose references and identity count.
    pub point: &'a Candidate,
    /// Where the bytes are read from when not the point itself: `copy`
    /// mode's server-side copy.
    pub bytes_from: Option<&'a Candidate>,
    /// Read the references in a response of their own before the bytes,
    /// whatever the store (`copy` mode reads the original's).
    pub references_first: bool,
    /// The references a verdict takes from a response: what it said,
    /// bound to the listing (`true`: the response read before the bytes;
    /// `false`: the bytes' own, with its content length). A response about
    /// another object gives none of its own.
    pub bind: &'a (dyn Fn(&StoredAttributes, bool, Option<u64>) -> StoredAttributes + Sync),
    /// Whether the references the verdict will compute need the part
    /// layout (given the response's server-side encryption): part sizes
    /// are asked for only then.
    pub needs_part_sizes: &'a (dyn Fn(&StoredAttributes, Option<&str>) -> bool + Sync),
    /// A protection policy is set: when the references state no lock, ask
    /// whether that means "no lock".
    pub lock_policy: bool,
}

impl fmt::Debug for RestoreRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreRequest")
            .field("point", &self.point.key)
            .field("bytes_from", &self.bytes_from.map(|c| &c.key))
            .field("references_first", &self.references_first)
            .field("lock_policy", &self.lock_policy)
            .finish_non_exhaustive()
    }
}

/// One recovery point restored: the bytes with everything its verdict
/// needs, from as few requests as the store allows.
#[derive(Debug)]
pub struct Restoration {
    /// What the response read before the bytes said, as it said it;
    /// `None` when the bytes' response carried the references.
    pub first: Option<StoredAttributes>,
    /// The references the verdict compares the bytes with: bound to the
    /// listing (`RestoreRequest::bind`), with the part sizes when needed.
    pub references: StoredAttributes,
    /// The bytes and what their response said; `None` when the first
    /// response said they cannot be read now (`first.archived`).
    pub body: Option<RestoreBody>,
    /// Whether an unstated lock means "no lock", when the request asked.
    pub lock_readable: Option<LockReadable>,
}

/// Brings recovery points back: the bytes of the exact recovery point
/// together with what the store says about it, planned with the fewest
/// requests the store allows. A drill makes one call per attempt,
/// [`Restorer::restore_point`]; the other methods are the requests it is
/// planned from (a provider may plan differently by overriding it), and the
/// rare confirmation of a part layout.
#[async_trait::async_trait]
pub trait Restorer: Send + Sync + fmt::Debug {
    /// Restores one recovery point: the references first when the store's
    /// responses carry none (or the request asks), then the bytes, then
    /// the part sizes when a planned reference needs them (after the
    /// response's headers, before its body), and whether an unstated lock
    /// means "no lock" when a policy asks.
    ///
    /// # Errors
    /// As for [`Restorer::attributes`]; errors while streaming arrive in
    /// the body stream.
    async fn restore_point(&self, req: RestoreRequest<'_>) -> Result<Restoration, SourceError> {
        let first = if req.references_first || self.attributes_before_restore(req.point) {
            Some(self.attributes(req.point).await?)
        } else {
            None
        };
        let mut body = None;
        if first.as_ref().is_none_or(|a| a.archived.is_none()) {
            let mut b = self.restore(req.bytes_from.unwrap_or(req.point)).await?;
            let served = b.attributes.get_or_insert_with(StoredAttributes::default);
            if served.version_id.is_none() {
                served.version_id.clone_from(&b.version_id);
            }
            body = Some(b);
        }
        let mut references = match (&first, &body) {
            (Some(a), _) => (req.bind)(a, true, None),
            (None, Some(b)) => (req.bind)(
                b.attributes
                    .as_ref()
                    .unwrap_or(&StoredAttributes::default()),
                false,
                b.content_length,
            ),
            (None, None) => StoredAttributes::default(),
        };
        if let Some(b) = &body {
            let sse = b
                .server_side_encryption
                .clone()
                .or_else(|| references.server_side_encryption.clone());
            if (req.needs_part_sizes)(&references, sse.as_deref()) {
                self.part_sizes(req.point, &mut references).await?;
            }
        }
        let lock_readable = if req.lock_policy && !references.lock.stated() {
            Some(self.lock_readable(req.point).await)
        } else {
            None
        };
        Ok(Restoration {
            first,
            references,
            body,
            lock_readable,
        })
    }

    /// Fetches the provider's stored attributes of one recovery point
    /// without its bytes (S3: HeadObject with checksum mode; Azure: Get Blob
    /// Properties).
    ///
    /// # Errors
    /// `NotFound` when the version no longer exists; other classes as they come.
    async fn attributes(&self, rp: &Candidate) -> Result<StoredAttributes, SourceError>;

    /// Whether the references of `rp` must be read with
    /// [`Restorer::attributes`] before its body: always for a source
    /// whose restore response carries none, and for recovery points that may
    /// need a rehydration first (so that they are `skipped` with the reason).
    fn attributes_before_restore(&self, _rp: &Candidate) -> bool {
        true
    }

    /// Completes `attrs` of a multipart recovery point with its part sizes
    /// (and whatever composite checksums come with them), with the fewest
    /// requests the store allows. Leaves them unset when the store cannot
    /// tell; a store that lacks a call is remembered for the run.
    ///
    /// # Errors
    /// As for [`Restorer::attributes`].
    async fn part_sizes(
        &self,
        _rp: &Candidate,
        _attrs: &mut StoredAttributes,
    ) -> Result<(), SourceError> {
        Ok(())
    }

    /// Every part's size, asked part by part (at most
    /// [`MAX_PROBED_PARTS`]), to confirm a layout taken from the first and
    /// last parts before a value computed over it counts as a mismatch.
    /// `None` when the store cannot tell.
    ///
    /// # Errors
    /// As for [`Restorer::attributes`].
    async fn probe_every_part(
        &self,
        _rp: &Candidate,
        _parts: u32,
    ) -> Result<Option<Vec<u64>>, SourceError> {
        Ok(None)
    }

    /// Whether a response that stated no lock state means "no lock" for
    /// `rp` (asked once per run, only for a recovery point whose response
    /// stated nothing).
    async fn lock_readable(&self, _rp: &Candidate) -> LockReadable {
        LockReadable::Readable
    }

    /// What this source learned about its store so far (calls it lacks),
    /// recorded in the run summary.
    fn learned(&self) -> Vec<StoreCapability> {
        Vec::new()
    }

    /// Starts restoring the exact recovery point and returns its body stream.
    ///
    /// # Errors
    /// As for [`Restorer::attributes`]; errors while streaming arrive in
    /// the body stream.
    async fn restore(&self, rp: &Candidate) -> Result<RestoreBody, SourceError>;
}

/// What changes the store: `copy` mode's copies, `undelete` mode, canaries.
/// Every method but the copy's has a default that refuses with a `Config`
/// error, for stores (or sources) that cannot do it.
#[async_trait::async_trait]
pub trait Mutator: Send + Sync + fmt::Debug {
    /// `copy` mode: copies the recovery point server-side to `dest_key` in
    /// the same bucket or container and returns the copy, to be restored
    /// and verified like any recovery point and then removed.
    ///
    /// # Errors
    /// As for [`Restorer::restore`]; `Config` when the source cannot copy.
    async fn copy(&self, rp: &Candidate, dest_key: &str) -> Result<Candidate, SourceError>;

    /// `undelete` mode: makes a soft-deleted recovery point live again
    /// (Azure Undelete Blob).
    ///
    /// # Errors
    /// `Config` when the source has no soft delete.
    async fn undelete(&self, _rp: &Candidate) -> Result<(), SourceError> {
        Err(SourceError::new(
            ErrorClass::Config,
            "this source has no soft delete to undo",
        ))
    }

    /// `undelete` mode: puts an undeleted recovery point back into its
    /// soft-deleted state (Azure Delete Blob, snapshots included).
    ///
    /// # Errors
    /// As for [`Mutator::undelete`].
    async fn redelete(&self, _rp: &Candidate) -> Result<(), SourceError> {
        Err(SourceError::new(
            ErrorClass::Config,
            "this source has no soft delete to undo",
        ))
    }

    /// Canaries: writes `body` at `key` (always under a canary prefix, as
    /// the caller checks) and returns the recovery point it left: the new
    /// version (S3, versioned Azure containers) and, on Azure, a snapshot.
    ///
    /// # Errors
    /// `Config` when the source cannot write canaries.
    async fn put_canary(&self, _key: &str, _body: Bytes) -> Result<Candidate, SourceError> {
        Err(SourceError::new(
            ErrorClass::Config,
            "this source cannot write canaries",
        ))
    }

    /// Canaries: deletes the current version of `key` the way an accidental
    /// deletion does (S3: a delete marker; the version stays behind it).
    ///
    /// # Errors
    /// `Config` when the source cannot delete canaries.
    async fn delete_canary(&self, _key: &str) -> Result<(), SourceError> {
        Err(SourceError::new(
            ErrorClass::Config,
            "this source cannot delete canaries",
        ))
    }

    /// Canaries: makes the agent's own soft-deleted canary live again to
    /// read it (Azure Undelete Blob); the caller deletes it again. Only for
    /// keys under a canary prefix, which the caller checks.
    ///
    /// # Errors
    /// `Config` when the source has no soft delete.
    async fn undelete_canary(&self, _rp: &Candidate) -> Result<(), SourceError> {
        Err(SourceError::new(
            ErrorClass::Config,
            "this source has no soft delete to undo",
        ))
    }

    /// Removes a copy made by [`Mutator::copy`], leaving no trace in a
    /// versioned bucket (the copy's own version is deleted).
    ///
    /// # Errors
    /// When the copy cannot be removed; the verdict records it.
    async fn remove_copy(&self, copy: &Candidate) -> Result<(), SourceError>;
}

/// A whole source: its population, its restores and its changes. Every
/// provider implements the three roles; callers take the role they need.
pub trait RecoverySource: Lister + Restorer + Mutator {}

impl<T: Lister + Restorer + Mutator + ?Sized> RecoverySource for T {}

/// The most parts [`Restorer::probe_every_part`] asks about one by one.
pub const MAX_PROBED_PARTS: u32 = 64;

/// A call the store turned out not to implement, learned during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreCapability {
    /// The API, e.g. `GetObjectAttributes`.
    pub call: &'static str,
    pub supported: bool,
    /// What the store answered, and what the source does instead.
    pub detail: String,
}
