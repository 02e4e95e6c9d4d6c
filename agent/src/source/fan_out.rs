//! A listing fanned out over key prefixes: the same items as one listing,
//! in the same key order, with up to `concurrency` prefixes listed at once.
//!
//! The provider lists one level with a delimiter, which gives, in key
//! order, the items at that level and the prefixes below it
//! ([`Segment`]). Each prefix is listed as a task of its own that reads
//! ahead into a bounded channel; the segments are handed on in order, so a
//! prefix's items come after everything before it and before everything
//! after it, as in one listing. At most `concurrency` prefix listings run
//! (plus the one being read), each holding at most [`AHEAD`] batches:
//! memory stays bounded whatever the bucket holds.

use super::{ListItem, SourceError};
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// Batches a prefix listing may read ahead of the consumer.
pub const AHEAD: usize = 4;
/// Items a batch holds.
const BATCH: usize = 1000;

/// What a delimited listing gives, in key order.
#[derive(Debug)]
pub enum Segment {
    /// Items at the listed level.
    Items(Vec<ListItem>),
    /// A prefix below it, to list on its own.
    Prefix(String),
}

/// One segment on its way to the consumer.
enum Lane {
    Items(Vec<ListItem>),
    Listing(
        mpsc::Receiver<Result<Vec<ListItem>, SourceError>>,
        AbortOnDropHandle<()>,
    ),
    Failed(SourceError),
}

/// The items of `segments`, each prefix listed by `list` (a stream that
/// owns what it needs: it runs as a task), up to `concurrency` at once.
pub fn fan_out<'a, L>(
    segments: BoxStream<'a, Result<Segment, SourceError>>,
    concurrency: usize,
    list: L,
) -> BoxStream<'a, Result<ListItem, SourceError>>
where
    L: Fn(String) -> BoxStream<'static, Result<ListItem, SourceError>> + Send + Sync + 'a,
{
    segments
        .map(move |segment| {
            let lane = match segment {
                Ok(Segment::Items(items)) => Lane::Items(items),
                Ok(Segment::Prefix(prefix)) => {
                    let (tx, rx) = mpsc::channel(AHEAD);
                    let mut items = list(prefix);
                    let task = tokio::spawn(async move {
                        let mut batch = Vec::with_capacity(BATCH);
                        while let Some(item) = items.next().await {
                            match item {
                                Ok(i) => {
                                    batch.push(i);
                                    if batch.len() >= BATCH {
                                        let full = std::mem::replace(
                                            &mut batch,
                                            Vec::with_capacity(BATCH),
                                        );
                                        if tx.send(Ok(full)).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                                Err(e) => {
                                    let _ = tx.send(Ok(batch)).await;
                                    let _ = tx.send(Err(e)).await;
                                    return;
                                }
                            }
                        }
                        let _ = tx.send(Ok(batch)).await;
                    });
                    Lane::Listing(rx, AbortOnDropHandle::new(task))
                }
                Err(e) => Lane::Failed(e),
            };
            futures::future::ready(lane)
        })
        // Ready at once: `buffered` pulls (and so starts) up to
        // `concurrency` segments ahead of the one being read.
        .buffered(concurrency.max(1))
        .flat_map(|lane| match lane {
            Lane::Items(items) => futures::stream::iter(items.into_iter().map(Ok)).boxed(),
            Lane::Failed(e) => futures::stream::once(async move { Err(e) }).boxed(),
            Lane::Listing(rx, task) => {
                futures::stream::unfold((rx, task), |(mut rx, task)| async move {
                    rx.recv().await.map(|batch| (batch, (rx, task)))
                })
                .flat_map(|batch| match batch {
                    Ok(items) => futures::stream::iter(items.into_iter().map(Ok)).boxed(),
                    Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
                })
                .boxed()
            }
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Candidate;

    fn item(key: &str) -> ListItem {
        ListItem::Version(Candidate {
            key: key.into(),
            ..Candidate::default()
        })
    }

    fn key(i: &ListItem) -> String {
        match i {
            ListItem::Version(c) => c.key.clone(),
            ListItem::DeleteMarker { key, .. } => key.clone(),
        }
    }

    #[tokio::test]
    async fn prefixes_listed_at_once_come_back_in_key_order() {
        let segments = vec![
            Ok(Segment::Items(vec![item("a.bin")])),
            Ok(Segment::Prefix("b/".into())),
            Ok(Segment::Items(vec![item("b.txt")])),
            Ok(Segment::Prefix("c/".into())),
            Ok(Segment::Prefix("d/".into())),
        ];
        let list = |p: String| {
            // Later prefixes answer sooner: order must still hold.
            let delay = match p.as_str() {
                "b/" => 30,
                "c/" => 10,
                _ => 0,
            };
            futures::stream::iter(0..2500)
                .then(move |i| {
                    let p = p.clone();
                    async move {
                        if i == 0 {
                            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                        }
                        Ok(item(&format!("{p}{i:05}")))
                    }
                })
                .boxed()
        };
        let got: Vec<String> = fan_out(futures::stream::iter(segments).boxed(), 3, list)
            .map(|r| key(&r.expect("item")))
            .collect()
            .await;
        let mut want = vec!["a.bin".to_owned()];
        want.extend((0..2500).map(|i| format!("b/{i:05}")));
        want.push("b.txt".into());
        want.extend((0..2500).map(|i| format!("c/{i:05}")));
        want.extend((0..2500).map(|i| format!("d/{i:05}")));
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_prefix_that_fails_ends_the_listing_with_its_error() {
        let segments = vec![
            Ok(Segment::Prefix("x/".into())),
            Ok(Segment::Prefix("y/".into())),
        ];
        let list = |p: String| {
            let fail = p == "x/";
            futures::stream::iter(vec![
                Ok(item(&format!("{p}1"))),
                if fail {
                    Err(SourceError::new(
                        crate::source::ErrorClass::AccessDenied,
                        "no",
                    ))
                } else {
                    Ok(item(&format!("{p}2")))
                },
            ])
            .boxed()
        };
        let got: Vec<Result<ListItem, SourceError>> =
            fan_out(futures::stream::iter(segments).boxed(), 2, list)
                .collect()
                .await;
        assert!(
            got.iter().any(Result::is_err),
            "the failure reaches the drill"
        );
        assert_eq!(key(got[0].as_ref().expect("first item")), "x/1");
    }
}
