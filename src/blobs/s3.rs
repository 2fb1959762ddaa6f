//! Blobs on S3 or any S3-compatible store (MinIO, Garage, R2, Ceph, moto), through
//! `object_store`. Each blob is the object `<prefix><sha256>`.
//!
//! - A put hashes the content as it streams in. Content up to [`SINGLE_PUT_BYTES`] goes up in
//!   one conditional create (`If-None-Match: *`), after its hash is checked. Larger content goes
//!   up as a multipart upload, aborted when the hash or the size is wrong, so nothing is ever
//!   visible under a key whose content is not its own.
//! - A second put of the same content succeeds without writing: the key is the content's hash,
//!   so what is there is already right. A store that ignores the condition (Garage) overwrites
//!   it with identical bytes.
//! - Reads stream the object, and a part is a ranged GET.
//! - Throttling, timeouts and unreachable endpoints are [`BlobError::Unavailable`].

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutPayload, WriteMultipart,
};
use sha2::{Digest, Sha256};

use super::{BlobError, BlobKey, BlobReader, BlobStore, ByteStream};

/// Content up to this size is put in one request; larger content as a multipart upload.
pub const SINGLE_PUT_BYTES: u64 = 8 * 1024 * 1024;
/// The size of each part of a multipart upload (S3's minimum is 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Where and how to reach the bucket.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub bucket: String,
    /// Empty: the AWS default chain (`AWS_REGION`, then `us-east-1`).
    pub region: String,
    /// An S3-compatible endpoint (path-style addressing); empty for AWS itself.
    pub endpoint: String,
    /// Prepended to every key, e.g. `blobs/`.
    pub prefix: String,
    /// An access key id and secret given here instead of through the AWS chain (for embedding
    /// and tests; the configuration leaves credentials to the chain).
    pub credentials: Option<(String, String)>,
    /// Send clients to a presigned URL for downloads, valid this long, instead of streaming
    /// them through the registry (`storage.s3_redirect`).
    pub redirect: Option<std::time::Duration>,
}

pub struct S3BlobStore {
    store: object_store::aws::AmazonS3,
    prefix: String,
    redirect: Option<std::time::Duration>,
}

fn unavailable(e: object_store::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

impl S3BlobStore {
    /// Connects as the standard AWS chain says (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
    /// a web identity, the instance's role…), to `settings`' bucket.
    pub fn open(settings: &S3Settings) -> Result<S3BlobStore, BlobError> {
        let mut builder =
            object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&settings.bucket);
        if !settings.region.is_empty() {
            builder = builder.with_region(&settings.region);
        }
        if let Some((id, secret)) = &settings.credentials {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        if !settings.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&settings.endpoint)
                .with_allow_http(settings.endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Unavailable(format!("S3 configuration: {e}")))?;
        Ok(S3BlobStore {
            store,
            prefix: settings.prefix.clone(),
            redirect: settings.redirect,
        })
    }

    fn path(&self, key: &BlobKey) -> Path {
        Path::from(format!("{}{}", self.prefix, key.as_str()))
    }

    fn key_of(&self, location: &Path) -> Option<BlobKey> {
        location
            .as_ref()
            .strip_prefix(&self.prefix)
            .and_then(BlobKey::parse)
    }

    async fn get(&self, key: &BlobKey, range: Option<GetRange>) -> Result<BlobReader, BlobError> {
        let options = GetOptions {
            range,
            ..Default::default()
        };
        let result = match self.store.get_opts(&self.path(key), options).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::Missing(key.as_str().to_string()));
            }
            Err(e) => return Err(unavailable(e)),
        };
        let size = result.range.end - result.range.start;
        let content: ByteStream = Box::pin(result.into_stream().map_err(unavailable));
        Ok(BlobReader { size, content })
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put_stream(
        &self,
        key: &BlobKey,
        mut content: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffered: Vec<Bytes> = Vec::new();
        let mut upload: Option<WriteMultipart> = None;
        let path = self.path(key);
        let outcome: Result<(), BlobError> = async {
            while let Some(chunk) = content.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(BlobError::TooLarge(max_bytes));
                }
                hasher.update(&chunk);
                match upload.as_mut() {
                    Some(upload) => {
                        upload.wait_for_capacity(2).await.map_err(unavailable)?;
                        upload.put(chunk);
                    }
                    None => {
                        buffered.push(chunk);
                        if size > SINGLE_PUT_BYTES {
                            let started =
                                self.store.put_multipart(&path).await.map_err(unavailable)?;
                            let mut writer =
                                WriteMultipart::new_with_chunk_size(started, PART_BYTES);
                            for part in buffered.drain(..) {
                                writer.put(part);
                            }
                            upload = Some(writer);
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        let actual = hex::encode(hasher.finalize());
        let outcome = outcome.and_then(|()| {
            if actual == key.as_str() {
                Ok(())
            } else {
                Err(BlobError::HashMismatch {
                    expected: key.as_str().to_string(),
                    actual,
                })
            }
        });
        match (outcome, upload) {
            (Err(e), Some(upload)) => {
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(blob = key.as_str(), error = %abort, "could not abort a refused multipart upload; the bucket's lifecycle rule for incomplete uploads removes it");
                }
                Err(e)
            }
            (Err(e), None) => Err(e),
            (Ok(()), Some(upload)) => {
                upload.finish().await.map_err(unavailable)?;
                Ok(size)
            }
            (Ok(()), None) => {
                let payload: PutPayload = buffered.into_iter().collect();
                match self
                    .store
                    .put_opts(&path, payload, PutMode::Create.into())
                    .await
                {
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(size),
                    // A store that answers a conditional create on an existing key with 412.
                    Err(object_store::Error::Precondition { .. }) => Ok(size),
                    Err(e) => Err(unavailable(e)),
                }
            }
        }
    }

    async fn open(&self, key: &BlobKey) -> Result<BlobReader, BlobError> {
        self.get(key, None).await
    }

    async fn download_url(&self, key: &BlobKey) -> Result<Option<String>, BlobError> {
        use object_store::signer::Signer;
        let Some(valid) = self.redirect else {
            return Ok(None);
        };
        let url = self
            .store
            .signed_url(object_store::signer::Method::GET, &self.path(key), valid)
            .await
            .map_err(unavailable)?;
        Ok(Some(url.to_string()))
    }

    async fn open_range(
        &self,
        key: &BlobKey,
        start: u64,
        len: u64,
    ) -> Result<BlobReader, BlobError> {
        if len == 0 {
            let nothing: ByteStream = Box::pin(futures_util::stream::empty());
            return Ok(BlobReader {
                size: 0,
                content: nothing,
            });
        }
        self.get(key, Some(GetRange::Bounded(start..start + len)))
            .await
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list_page(
        &self,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, BlobError> {
        let prefix =
            (!self.prefix.is_empty()).then(|| Path::from(self.prefix.trim_end_matches('/')));
        let listing = match after {
            Some(after) => self
                .store
                .list_with_offset(prefix.as_ref(), &self.path(after)),
            None => self.store.list(prefix.as_ref()),
        };
        let mut page = Vec::with_capacity(limit.min(1000));
        let mut listing = listing;
        while page.len() < limit {
            match listing.next().await {
                Some(Ok(meta)) => {
                    // Anything else in the bucket under the prefix is not a blob of ours.
                    if let Some(key) = self.key_of(&meta.location) {
                        page.push((key, meta.size));
                    }
                }
                Some(Err(e)) => return Err(unavailable(e)),
                None => break,
            }
        }
        page.sort();
        Ok(page)
    }
}

/// What [`ensure_bucket`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketInit {
    Created,
    Existed,
}

/// Creates the bucket `settings` names when it does not exist (what `init-aws` does), with one
/// SigV4-signed request, path-style, through the same credentials the store uses.
pub async fn ensure_bucket(settings: &S3Settings) -> Result<BucketInit, BlobError> {
    use aws_credential_types::provider::ProvideCredentials;
    let region = if settings.region.is_empty() {
        "us-east-1".to_string()
    } else {
        settings.region.clone()
    };
    let credentials = match &settings.credentials {
        Some((id, secret)) => aws_credential_types::Credentials::new(
            id,
            secret,
            None,
            None,
            "pantry-registry settings",
        ),
        None => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region.clone()))
                .load()
                .await;
            let provider = config.credentials_provider().ok_or_else(|| {
                BlobError::Unavailable("no AWS credentials found for the bucket".into())
            })?;
            provider
                .provide_credentials()
                .await
                .map_err(|e| BlobError::Unavailable(format!("AWS credentials: {e}")))?
        }
    };
    let endpoint = if settings.endpoint.is_empty() {
        format!("https://s3.{region}.amazonaws.com")
    } else {
        settings.endpoint.trim_end_matches('/').to_string()
    };
    let url = format!("{endpoint}/{}", settings.bucket);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| BlobError::Unavailable(e.to_string()))?;
    let send = |method: &'static str, body: Vec<u8>| {
        let (client, url, credentials, region) = (
            client.clone(),
            url.clone(),
            credentials.clone(),
            region.clone(),
        );
        async move {
            let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
            let mut signing = aws_sigv4::http_request::SigningSettings::default();
            signing.payload_checksum_kind =
                aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
            signing.uri_path_normalization_mode =
                aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
            signing.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(&region)
                .name("s3")
                .time(std::time::SystemTime::now())
                .settings(signing)
                .build()
                .map_err(|e| BlobError::Unavailable(format!("signing: {e}")))?
                .into();
            let signable = aws_sigv4::http_request::SignableRequest::new(
                method,
                &url,
                std::iter::empty(),
                aws_sigv4::http_request::SignableBody::Bytes(&body),
            )
            .map_err(|e| BlobError::Unavailable(format!("signing: {e}")))?;
            let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
                .map_err(|e| BlobError::Unavailable(format!("signing: {e}")))?
                .into_parts();
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let mut request = client.request(method, &url).body(body);
            for (name, value) in instructions.headers() {
                request = request.header(name, value);
            }
            request
                .send()
                .await
                .map_err(|e| BlobError::Unavailable(format!("S3 {url}: {e}")))
        }
    };
    let head = send("HEAD", Vec::new()).await?;
    match head.status().as_u16() {
        200 => return Ok(BucketInit::Existed),
        404 => {}
        status => {
            return Err(BlobError::Unavailable(format!(
                "S3 answered {status} for the bucket {}: it may belong to another account, or the credentials may not reach it",
                settings.bucket
            )));
        }
    }
    let body = if region == "us-east-1" {
        Vec::new()
    } else {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
        .into_bytes()
    };
    let created = send("PUT", body).await?;
    let status = created.status();
    if status.is_success() {
        Ok(BucketInit::Created)
    } else {
        let text = created.text().await.unwrap_or_default();
        // Created meanwhile by another init.
        if text.contains("BucketAlreadyOwnedByYou") {
            return Ok(BucketInit::Existed);
        }
        Err(BlobError::Unavailable(format!(
            "S3 refused to create the bucket {} ({status}): {}",
            settings.bucket,
            text.chars().take(300).collect::<String>()
        )))
    }
}
