//! The blob contract: what every `BlobStore` must do, written once against the trait and run
//! for each implementation: the disk store, the trait's default part reader, and the S3 store
//! against a real S3-compatible server (moto on 127.0.0.1).
//! Blobs are named by the SHA-256 of their content, are never visible half-written, and a
//! refused put leaves nothing behind.

use crate::common;

use bytes::Bytes;
use futures_util::StreamExt;
use pantry_registry::blobs::fs::FsBlobStore;
use pantry_registry::blobs::{BlobError, BlobKey, BlobStore, ByteStream};
use sha2::{Digest, Sha256};

fn key_of(data: &[u8]) -> BlobKey {
    BlobKey::parse(&hex::encode(Sha256::digest(data))).unwrap()
}

/// `data` in chunks of `chunk` bytes, as a request or an upstream delivers it.
fn chunked(data: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, BlobError>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(chunks))
}

async fn read_all(store: &dyn BlobStore, key: &BlobKey) -> (u64, Vec<u8>) {
    let mut reader = store.open(key).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = reader.content.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    (reader.size, out)
}

/// Everything a blob store must do.
async fn blob_contract(store: &dyn BlobStore) {
    // Streamed in, read back whole and as a stream with its length; a small blob too (a store
    // may read small ones at once).
    let small = b"a small tarball".to_vec();
    let small_key = key_of(&small);
    store
        .put(&small_key, Bytes::from(small.clone()))
        .await
        .unwrap();
    assert_eq!(
        read_all(store, &small_key).await,
        (small.len() as u64, small)
    );
    let data: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
    let key = key_of(&data);
    assert_eq!(store.head(&key).await.unwrap(), None);
    let stored = store
        .put_stream(&key, chunked(&data, 70_000), 4 << 20)
        .await
        .unwrap();
    assert_eq!(stored, data.len() as u64);
    assert_eq!(store.head(&key).await.unwrap(), Some(data.len() as u64));
    assert_eq!(store.get(&key).await.unwrap(), Bytes::from(data.clone()));
    let (size, streamed) = read_all(store, &key).await;
    assert_eq!((size, streamed.len()), (data.len() as u64, data.len()));
    assert_eq!(streamed, data);
    // Parts: from the start, across chunk boundaries, to the end, one byte.
    for (start, len) in [
        (0u64, 10u64),
        (65_530, 140_000),
        (2_499_000, 1_000),
        (1_234_567, 1),
        (0, 2_500_000),
    ] {
        let mut reader = store.open_range(&key, start, len).await.unwrap();
        assert_eq!(reader.size, len);
        let mut part = Vec::new();
        while let Some(chunk) = reader.content.next().await {
            part.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(
            part,
            data[start as usize..(start + len) as usize],
            "{start}+{len}"
        );
    }
    assert!(matches!(
        store.open_range(&key_of(b"none"), 0, 1).await,
        Err(BlobError::Missing(_))
    ));

    // The same content again is a success, and changes nothing.
    store.put(&key, Bytes::from(data.clone())).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Bytes::from(data.clone()));

    // Content that is not its key's is refused, and nothing is stored under that key.
    let other = b"other content".to_vec();
    let wrong_key = key_of(b"what the client claimed");
    match store
        .put_stream(&wrong_key, chunked(&other, 4), 1 << 20)
        .await
    {
        Err(BlobError::HashMismatch { expected, actual }) => {
            assert_eq!(expected, wrong_key.as_str());
            assert_eq!(actual, key_of(&other).as_str());
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert_eq!(store.head(&wrong_key).await.unwrap(), None);
    assert_eq!(store.head(&key_of(&other)).await.unwrap(), None);

    // Past the size limit: refused as soon as it passes, nothing stored.
    let big = vec![7u8; 10_000];
    let big_key = key_of(&big);
    assert!(matches!(
        store
            .put_stream(&big_key, chunked(&big, 1_000), 5_000)
            .await,
        Err(BlobError::TooLarge(5_000))
    ));
    assert_eq!(store.head(&big_key).await.unwrap(), None);

    // A stream that fails midway stores nothing.
    let broken: ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"half a tarb")),
        Err(BlobError::Io(std::io::Error::other("the client went away"))),
    ]));
    let half_key = key_of(b"half a tarball");
    assert!(store.put_stream(&half_key, broken, 1 << 20).await.is_err());
    assert_eq!(store.head(&half_key).await.unwrap(), None);

    // Missing blobs: opening and reading say so; deleting is fine.
    let absent = key_of(b"never stored");
    assert!(matches!(
        store.open(&absent).await,
        Err(BlobError::Missing(_))
    ));
    assert!(matches!(
        store.get(&absent).await,
        Err(BlobError::Missing(_))
    ));
    store.delete(&absent).await.unwrap();

    // Listing: every blob once, in key order, in pages that add up to the whole.
    let mut keys = vec![key.clone(), small_key.clone()];
    for i in 0..25u32 {
        let content = format!("blob number {i}").into_bytes();
        let k = key_of(&content);
        store.put(&k, Bytes::from(content)).await.unwrap();
        keys.push(k);
    }
    keys.sort();
    let all = store.list().await.unwrap();
    assert_eq!(all.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), keys);
    let mut paged = Vec::new();
    let mut after: Option<BlobKey> = None;
    loop {
        let page = store.list_page(after.as_ref(), 4).await.unwrap();
        assert!(page.len() <= 4);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|(k, _)| k.clone());
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert_eq!(
        all.iter().find(|(k, _)| *k == key).map(|(_, s)| *s),
        Some(data.len() as u64)
    );

    // Deleted blobs are gone from every view.
    store.delete(&key).await.unwrap();
    assert_eq!(store.head(&key).await.unwrap(), None);
    assert!(matches!(store.get(&key).await, Err(BlobError::Missing(_))));
    assert!(!store.list().await.unwrap().iter().any(|(k, _)| *k == key));
}

#[tokio::test]
async fn the_disk_store_keeps_the_blob_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    blob_contract(&store).await;
    // A refused or broken put leaves no temporary file behind on disk either.
    let leftovers = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "temporary files left behind");
}

#[tokio::test]
async fn concurrent_puts_of_one_blob_all_succeed_with_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(FsBlobStore::open(dir.path()).unwrap());
    let data = Bytes::from(vec![42u8; 200_000]);
    let key = key_of(&data);
    let puts = (0..8).map(|_| {
        let (store, data, key) = (store.clone(), data.clone(), key.clone());
        tokio::spawn(async move { store.put(&key, data).await })
    });
    for put in futures_util::future::join_all(puts).await {
        put.unwrap().unwrap();
    }
    assert_eq!(store.get(&key).await.unwrap(), data);
    assert_eq!(store.list().await.unwrap().len(), 1);
}

/// A store that keeps only the trait's default ways of reading a part, around the disk store.
struct DefaultParts(pantry_registry::blobs::fs::FsBlobStore);

#[async_trait::async_trait]
impl BlobStore for DefaultParts {
    async fn put_stream(
        &self,
        key: &BlobKey,
        content: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        self.0.put_stream(key, content, max_bytes).await
    }
    async fn open(&self, key: &BlobKey) -> Result<pantry_registry::blobs::BlobReader, BlobError> {
        self.0.open(key).await
    }
    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        self.0.head(key).await
    }
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.0.delete(key).await
    }
    async fn list_page(
        &self,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, BlobError> {
        self.0.list_page(after, limit).await
    }
}

#[tokio::test]
async fn the_default_part_reader_keeps_the_blob_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = DefaultParts(pantry_registry::blobs::fs::FsBlobStore::open(dir.path()).unwrap());
    blob_contract(&store).await;
}

#[tokio::test]
async fn the_s3_store_keeps_the_blob_contract() {
    let moto = common::s3::Moto::start("contract").await;
    let store = pantry_registry::blobs::s3::S3BlobStore::open(&moto.settings("contract")).unwrap();
    blob_contract(&store).await;
}

#[tokio::test]
async fn large_s3_uploads_go_in_parts_and_a_wrong_hash_leaves_nothing() {
    let moto = common::s3::Moto::start("parts").await;
    let store = pantry_registry::blobs::s3::S3BlobStore::open(&moto.settings("parts")).unwrap();
    // Past the single-put size: a multipart upload of 8 MiB parts.
    let data: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let key = key_of(&data);
    let stored = store
        .put_stream(&key, chunked(&data, 1 << 20), 32 << 20)
        .await
        .unwrap();
    assert_eq!(stored, data.len() as u64);
    assert_eq!(store.head(&key).await.unwrap(), Some(data.len() as u64));
    assert_eq!(store.get(&key).await.unwrap(), Bytes::from(data.clone()));
    // Again: already there, still fine.
    store
        .put_stream(&key, chunked(&data, 1 << 20), 32 << 20)
        .await
        .unwrap();
    // Content that is not the key's, large enough for parts: refused, and nothing is there.
    let wrong = key_of(b"something else");
    let refused = store
        .put_stream(&wrong, chunked(&data, 1 << 20), 32 << 20)
        .await;
    assert!(
        matches!(refused, Err(BlobError::HashMismatch { .. })),
        "{refused:?}"
    );
    assert_eq!(store.head(&wrong).await.unwrap(), None);
    // Too large, past the parts: refused, and nothing is there.
    let refused = store
        .put_stream(&key_of(&data[..100]), chunked(&data, 1 << 20), 10 << 20)
        .await;
    assert!(
        matches!(refused, Err(BlobError::TooLarge(_))),
        "{refused:?}"
    );
    assert_eq!(store.head(&key_of(&data[..100])).await.unwrap(), None);
    let listed = store.list().await.unwrap();
    assert_eq!(listed, vec![(key, data.len() as u64)]);
}
