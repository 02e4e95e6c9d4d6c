//! A listing fanned out over key prefixes: the same items as one listing,
//! with up to `concurrency` prefixes listed at once.
//!
//! The provider lists one level with a delimiter, which gives the items at
//! that level and the prefixes below it ([`Segment`]); each prefix is then
//! listed page by page, up to `concurrency` of them at once, and their
//! items are handed on as they arrive. Within a prefix they keep the
//! listing's order (the versions of a key stay together); across prefixes
//! they interleave. Holding the output to key order would make every prefix
//! wait for the ones before it — at S3's page latency that halves what a
//! fan-out gains, or needs the whole listing in memory — so it is not: the
//! sample is drawn by each version's own rank, whatever the order, and
//! rotating coverage joins a listing out of key order by looking each
//! version up (see `drill/coverage.rs`). Memory holds one page per prefix
//! being listed.

use super::{ListItem, SourceError};
use futures::stream::{BoxStream, StreamExt};

/// What a delimited listing gives, in key order.
#[derive(Debug)]
pub enum Segment {
    /// Items at the listed level.
    Items(Vec<ListItem>),
    /// A prefix below it, to list on its own.
    Prefix(String),
}

/// The items of `segments`, each prefix listed by `list`, up to
/// `concurrency` at once.
pub fn fan_out<'a, L>(
    segments: BoxStream<'a, Result<Segment, SourceError>>,
    concurrency: usize,
    list: L,
) -> BoxStream<'a, Result<ListItem, SourceError>>
where
    L: Fn(String) -> BoxStream<'a, Result<ListItem, SourceError>> + Send + Sync + 'a,
{
    segments
        .map(move |segment| match segment {
            Ok(Segment::Items(items)) => futures::stream::iter(items.into_iter().map(Ok)).boxed(),
            Ok(Segment::Prefix(prefix)) => list(prefix),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .flatten_unordered(concurrency.max(1))
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
    async fn prefixes_listed_at_once_give_every_item_once_each_prefix_in_order() {
        let segments = vec![
            Ok(Segment::Items(vec![item("a.bin")])),
            Ok(Segment::Prefix("b/".into())),
            Ok(Segment::Items(vec![item("b.txt")])),
            Ok(Segment::Prefix("c/".into())),
            Ok(Segment::Prefix("d/".into())),
        ];
        let list = |p: String| {
            // The first prefix answers slowest: the others go on meanwhile.
            let delay = if p == "b/" { 30 } else { 0 };
            futures::stream::iter(0..2500)
                .then(move |i| {
                    let p = p.clone();
                    async move {
                        if i % 500 == 0 {
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
        let mut want = vec!["a.bin".to_owned(), "b.txt".to_owned()];
        for p in ["b/", "c/", "d/"] {
            let mine: Vec<String> = (0..2500).map(|i| format!("{p}{i:05}")).collect();
            let seen: Vec<&String> = got.iter().filter(|k| k.starts_with(p)).collect();
            assert_eq!(seen.len(), 2500, "{p}");
            assert!(
                seen.iter().zip(&mine).all(|(a, b)| *a == b),
                "{p} in its own order"
            );
            want.extend(mine);
        }
        let mut sorted = got.clone();
        sorted.sort();
        want.sort();
        assert_eq!(sorted, want, "every item once");
        assert_ne!(
            got[1], "b/00000",
            "the slow prefix did not hold the others up"
        );
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
