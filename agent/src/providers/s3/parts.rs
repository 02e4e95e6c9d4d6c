//! Part sizes of a multipart recovery point, with the fewest requests the
//! store allows: GetObjectAttributes `ObjectParts` for objects with
//! additional checksums, else HeadObject `partNumber` for the first and last
//! parts, else for each part; calls the store lacks are remembered.

use super::*;

impl S3Source {
    /// HeadObject of one part: its size, and the parts count the store
    /// reports with it.
    async fn head_part(
        &self,
        rp: &Candidate,
        part: u32,
    ) -> Result<(u64, Option<u32>), SourceError> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&rp.key)
            .set_version_id(rp.version_id.clone())
            .part_number(part as i32)
            .send()
            .await
            .map_err(|e| {
                classify(
                    &e,
                    &self.what(&format!("HeadObject partNumber={part} on"), Some(&rp.key)),
                    Some(&self.bucket),
                )
            })?;
        Ok((
            out.content_length().unwrap_or(0).max(0) as u64,
            out.parts_count().map(|n| n.max(0) as u32),
        ))
    }

    /// GetObjectAttributes with `ObjectParts` (paged): the part sizes when
    /// the store lists every one, and the checksums it reports.
    async fn object_parts(
        &self,
        rp: &Candidate,
    ) -> Result<(StoredAttributes, Option<Vec<u64>>), SourceError> {
        let what = self.what("GetObjectAttributes on", Some(&rp.key));
        let mut attrs = StoredAttributes::default();
        let mut part_marker: Option<String> = None;
        let mut sizes: Vec<u64> = Vec::new();
        let mut complete = true;
        loop {
            let out = self
                .client
                .get_object_attributes()
                .bucket(&self.bucket)
                .key(&rp.key)
                .set_version_id(rp.version_id.clone())
                .object_attributes(ObjectAttributes::Etag)
                .object_attributes(ObjectAttributes::Checksum)
                .object_attributes(ObjectAttributes::ObjectParts)
                .object_attributes(ObjectAttributes::ObjectSize)
                .max_parts(1000)
                .set_part_number_marker(part_marker.clone())
                .send()
                .await
                .map_err(|e| classify(&e, &what, Some(&self.bucket)))?;
            if part_marker.is_none() {
                attrs.size = out.object_size().map(|s| s.max(0) as u64);
                attrs.etag = out.e_tag().map(unquote);
                if let Some(c) = out.checksum() {
                    push_checksums(
                        &mut attrs,
                        c.checksum_type().map(|t| t.as_str()),
                        stored_values!(c),
                    );
                }
            }
            let Some(parts) = out.object_parts() else {
                break;
            };
            if let Some(n) = parts.total_parts_count() {
                attrs.parts_count = Some(n.max(0) as u32);
            }
            for p in parts.parts() {
                match p.size() {
                    Some(s) => sizes.push(s.max(0) as u64),
                    None => complete = false,
                }
            }
            if parts.is_truncated() == Some(true) && parts.next_part_number_marker().is_some() {
                part_marker = parts.next_part_number_marker().map(str::to_owned);
            } else {
                break;
            }
        }
        let total = attrs.size.unwrap_or(rp.size);
        let listed =
            (complete && !sizes.is_empty() && sizes.iter().sum::<u64>() == total).then_some(sizes);
        Ok((attrs, listed))
    }

    pub(super) async fn find_part_sizes(
        &self,
        rp: &Candidate,
        attrs: &mut StoredAttributes,
    ) -> Result<(), SourceError> {
        if attrs.part_sizes.is_some() {
            return Ok(());
        }
        // GetObjectAttributes lists part sizes only for objects written with
        // additional checksums; for the others it would be a wasted request.
        let has_checksums = !attrs.checksums.is_empty() || !rp.checksum_algorithms.is_empty();
        if has_checksums
            && !self.caps.no_attributes.load(Ordering::SeqCst)
            && self.parts_from_attributes(rp, attrs).await?
        {
            return Ok(());
        }
        if self.caps.no_part_head.load(Ordering::SeqCst) {
            return Ok(());
        }
        let size = attrs.size.unwrap_or(rp.size);
        match self.probe_part_sizes(rp, attrs.parts_count, size).await {
            Ok(Some((sizes, from))) => {
                attrs.parts_count = Some(sizes.len() as u32);
                attrs.part_sizes_from = Some(from);
                attrs.part_sizes = Some(sizes);
            }
            Ok(None) => {}
            Err(e) if is_capability(&e) => self.caps.lacks(
                &self.caps.no_part_head,
                "HeadObject partNumber",
                &e,
                "multipart references without part sizes are not comparable",
            ),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Part sizes (and any checksums `attrs` lacks) from
    /// GetObjectAttributes; whether it gave the sizes. A store without the
    /// call is remembered (the first caller asks while the others wait).
    async fn parts_from_attributes(
        &self,
        rp: &Candidate,
        attrs: &mut StoredAttributes,
    ) -> Result<bool, SourceError> {
        let first = if self.caps.attributes_known.load(Ordering::SeqCst) {
            None
        } else {
            Some(self.caps.attributes_gate.lock().await)
        };
        if self.caps.no_attributes.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let asked = self.object_parts(rp).await;
        match &asked {
            Err(e) if is_capability(e) => self.caps.lacks(
                &self.caps.no_attributes,
                "GetObjectAttributes",
                e,
                "part sizes come from HeadObject partNumber instead",
            ),
            Err(_) => {}
            Ok(_) => self.caps.attributes_known.store(true, Ordering::SeqCst),
        }
        // Released only once a missing call is remembered.
        drop(first);
        let (found, sizes) = match asked {
            Ok(a) => a,
            Err(e) if is_capability(&e) => return Ok(false),
            Err(e) => return Err(e),
        };
        // An answer about another object than the listing named (a store
        // that ignores versionId): nothing in it counts.
        if let (Some(f), Some(l)) = (&found.etag, &rp.etag) {
            if !f.eq_ignore_ascii_case(l) {
                tracing::warn!(key = %rp.key, listed = l.as_str(), answered = f.as_str(), "GetObjectAttributes answered with another object's ETag than the listing's; its parts and checksums are not used.");
                return Ok(false);
            }
        }
        for c in found.checksums {
            if !attrs
                .checksums
                .iter()
                .any(|x| x.algorithm == c.algorithm && x.scope == c.scope)
            {
                attrs.checksums.push(c);
            }
        }
        if attrs.etag.is_none() {
            attrs.etag = found.etag;
        }
        attrs.parts_count = attrs.parts_count.or(found.parts_count);
        let Some(sizes) = sizes else {
            return Ok(false);
        };
        attrs.parts_count = Some(sizes.len() as u32);
        attrs.part_sizes = Some(sizes);
        attrs.part_sizes_from = Some(PartSizesFrom::Reported);
        Ok(true)
    }

    /// Part sizes from HeadObject `partNumber`: the first and last part
    /// give a uniform layout; a layout whose middle parts differ is asked
    /// part by part, up to [`MAX_PROBED_PARTS`].
    async fn probe_part_sizes(
        &self,
        rp: &Candidate,
        parts_count: Option<u32>,
        size: u64,
    ) -> Result<Option<(Vec<u64>, PartSizesFrom)>, SourceError> {
        let (first, count) = self.head_part(rp, 1).await?;
        let Some(n) = count.or(parts_count).filter(|n| *n > 0) else {
            return Ok(None);
        };
        let last = if n == 1 {
            first
        } else {
            self.head_part(rp, n).await?.0
        };
        if let Some(sizes) = first_and_last_parts(size, n, first, last) {
            let from = if sizes.len() <= 2 {
                PartSizesFrom::Reported
            } else {
                PartSizesFrom::FirstAndLast
            };
            return Ok(Some((sizes, from)));
        }
        if n > MAX_PROBED_PARTS {
            return Ok(None);
        }
        let mut sizes = vec![first];
        for part in 2..n {
            sizes.push(self.head_part(rp, part).await?.0);
        }
        sizes.push(last);
        Ok((sizes.iter().sum::<u64>() == size).then_some((sizes, PartSizesFrom::Reported)))
    }

    pub(super) async fn probe_parts(
        &self,
        rp: &Candidate,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, SourceError> {
        if parts == 0 || parts > MAX_PROBED_PARTS || self.caps.no_part_head.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let mut sizes = Vec::with_capacity(parts as usize);
        for n in 1..=parts {
            sizes.push(self.head_part(rp, n).await?.0);
        }
        Ok(Some(sizes))
    }
}
