//! ListObjectVersions, page by page: one prefix (`Pager::page`), or one
//! level with `/` as delimiter for a parallel listing (`Pager::segments`).

use super::errors::classify;
use super::helpers::{algorithm, scope, unquote, url_decode};
use crate::source::{Candidate, ErrorClass, ListItem, SourceError};
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Lists one prefix of a bucket page by page.
#[derive(Debug, Clone)]
pub(super) struct Pager {
    pub(super) client: Client,
    pub(super) bucket: String,
    pub(super) prefix: String,
}

impl Pager {
    fn what(&self) -> String {
        format!("ListObjectVersions on s3://{}/{}", self.bucket, self.prefix)
    }

    /// One page of ListObjectVersions from `marker` (with `/` as delimiter
    /// when `delimited`: the level's prefixes come back apart).
    async fn request(
        &self,
        marker: &Marker,
        delimited: bool,
    ) -> Result<aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput, SourceError>
    {
        let mut req = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            // Keys may hold characters XML 1.0 cannot carry (control
            // characters): asked URL-encoded, decoded below.
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .max_keys(1000);
        if !self.prefix.is_empty() {
            req = req.prefix(&self.prefix);
        }
        if delimited {
            req = req.delimiter("/");
        }
        if let Some(k) = &marker.key {
            req = req.key_marker(k);
        }
        if let Some(v) = &marker.version_id {
            req = req.version_id_marker(v);
        }
        req.send()
            .await
            .map_err(|e| classify(&e, &self.what(), Some(&self.bucket)))
    }

    /// A listed key, URL-decoded when the store encoded it.
    fn key_of(&self, encoded: bool, k: Option<&str>) -> Result<String, SourceError> {
        let k = k.unwrap_or_default();
        if encoded {
            url_decode(k).ok_or_else(|| {
                SourceError::new(
                    ErrorClass::Protocol,
                    format!(
                        "{} returned a key that is not valid URL encoding",
                        self.what()
                    ),
                )
            })
        } else {
            Ok(k.to_owned())
        }
    }

    /// One page of ListObjectVersions from `marker`, keys URL-decoded, each
    /// version marked when a delete marker hides it (on this page or, for
    /// the key the last page ended on, the one before).
    pub(super) async fn page(
        &self,
        marker: &Marker,
    ) -> Result<crate::source::Page<Marker>, SourceError> {
        let out = self.request(marker, false).await?;
        self.items(&out, marker)
    }

    /// One page of the level's segments: its items and, apart, the
    /// prefixes below it, in key order.
    pub(super) async fn segments(
        &self,
        marker: &Marker,
    ) -> Result<(Vec<crate::source::fan_out::Segment>, Option<Marker>), SourceError> {
        use crate::source::fan_out::Segment;
        let out = self.request(marker, true).await?;
        let (items, next) = self.items(&out, marker)?;
        let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
        let mut prefixes = Vec::new();
        for p in out.common_prefixes() {
            prefixes.push(self.key_of(encoded, p.prefix())?);
        }
        let item_key = |i: &ListItem| match i {
            ListItem::Version(c) => c.key.clone(),
            ListItem::DeleteMarker { key, .. } => key.clone(),
        };
        let mut all: Vec<(String, Option<ListItem>)> = items
            .into_iter()
            .map(|i| (item_key(&i), Some(i)))
            .chain(prefixes.into_iter().map(|p| (p, None)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut segments = Vec::new();
        for (key, item) in all {
            match (item, segments.last_mut()) {
                (Some(i), Some(Segment::Items(v))) => v.push(i),
                (Some(i), _) => segments.push(Segment::Items(vec![i])),
                (None, _) => segments.push(Segment::Prefix(key)),
            }
        }
        Ok((segments, next))
    }

    /// The items of one page.
    fn items(
        &self,
        out: &aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput,
        marker: &Marker,
    ) -> Result<crate::source::Page<Marker>, SourceError> {
        let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
        let key_of = |k: Option<&str>| self.key_of(encoded, k);
        let mut items = Vec::with_capacity(out.versions().len() + out.delete_markers().len());
        let mut latest_dm: HashSet<String> = HashSet::new();
        for dm in out.delete_markers() {
            let key = key_of(dm.key())?;
            if dm.is_latest() == Some(true) {
                latest_dm.insert(key.clone());
            }
            let last_modified = dm
                .last_modified()
                .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
                .unwrap_or_default();
            items.push(ListItem::DeleteMarker { key, last_modified });
        }
        let mut versions = Vec::with_capacity(out.versions().len());
        for v in out.versions() {
            let key = key_of(v.key())?;
            versions.push(listed_version(v, key));
        }
        let carried = marker.latest_delete_marker_key.clone();
        for mut c in versions {
            c.behind_delete_marker =
                latest_dm.contains(&c.key) || carried.as_deref() == Some(c.key.as_str());
            items.push(ListItem::Version(c));
        }
        let next = if out.is_truncated() == Some(true) {
            if out.next_key_marker().is_none() {
                return Err(SourceError::new(
                    ErrorClass::Protocol,
                    format!(
                        "{} returned a truncated page without NextKeyMarker; the listing cannot continue",
                        self.what()
                    ),
                ));
            }
            Some(Marker {
                key: Some(key_of(out.next_key_marker())?),
                version_id: out.next_version_id_marker().map(str::to_owned),
                // Only the page's last key can continue on the next page.
                latest_delete_marker_key: latest_dm.into_iter().max().or(carried),
            })
        } else {
            None
        };
        Ok((items, next))
    }
}

/// One version of a ListObjectVersions page as a recovery point (`key`
/// already decoded); whether a delete marker hides it is set by the page.
fn listed_version(v: &aws_sdk_s3::types::ObjectVersion, key: String) -> Candidate {
    let last_modified = v
        .last_modified()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    Candidate {
        version_id: v.version_id().map(str::to_owned),
        size: v.size().unwrap_or(0).max(0) as u64,
        last_modified,
        is_latest: v.is_latest() == Some(true),
        behind_delete_marker: false,
        storage_class: v.storage_class().map(|s| s.as_str().to_owned()),
        etag: v.e_tag().map(unquote),
        key,
        snapshot: None,
        deleted: None,
        checksum_algorithms: v
            .checksum_algorithm()
            .iter()
            .filter_map(|a| algorithm(a.as_str()))
            .collect(),
        checksum_type: v.checksum_type().and_then(|t| scope(t.as_str())),
        content_md5: None,
    }
}

/// Where the next listing page starts.
#[derive(Debug, Clone, Default)]
pub(super) struct Marker {
    key: Option<String>,
    version_id: Option<String>,
    /// The last key on the previous page whose current version is a delete
    /// marker: its older versions may continue on this page.
    latest_delete_marker_key: Option<String>,
}
