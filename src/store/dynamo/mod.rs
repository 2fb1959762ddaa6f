//! The DynamoDB metadata store (or any DynamoDB-compatible engine: ScyllaDB Alternator, moto),
//! for running several instances on one shared store. The key design is
//! `migrations/dynamodb.md`; this file holds the store itself: connecting, creating the tables
//! (`init-aws`), the codec shared by every record, and the few request shapes every trait uses
//! (a strongly consistent get, a paged query, a transaction with its cancellation reasons).
//! Each store trait is implemented in its own file, as for redb.
//!
//! Every read is strongly consistent and no listing goes through a secondary index: a write
//! acknowledged by one instance is seen by the next read on any instance, and `gc` never
//! misses a record that was just written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement,
    KeyType, Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};

use super::{Change, StoreError, StoreResult};

mod accounts;
mod cache;
mod downloads;
mod feed;
mod packages;
mod rates;
mod references;
mod transfer;
mod zig;

/// The layout's version, kept in the `META`/`SCHEMA` item and checked at start.
pub const DYNAMO_SCHEMA_VERSION: u64 = 1;

/// A record's JSON up to this size is kept as a string; a larger one zstd-compressed.
const INLINE_BODY_BYTES: usize = 64 * 1024;
/// DynamoDB refuses items over 400 KB; this leaves room for the keys and other attributes.
const MAX_ITEM_BODY_BYTES: usize = 380 * 1024;
/// TransactWriteItems takes at most 100 actions.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// Where and how to reach the tables.
#[derive(Debug, Clone, Default)]
pub struct DynamoSettings {
    /// The main table (packages, users, tokens, the change feed, the audit log…).
    pub table: String,
    /// The download counters' table; empty: `<table>-analytics`.
    pub analytics_table: String,
    /// Empty: the AWS default chain (`AWS_REGION`, then `us-east-1`).
    pub region: String,
    /// A DynamoDB-compatible endpoint; empty for AWS itself.
    pub endpoint: String,
    /// Static credentials instead of the AWS chain (for compatible engines and tests).
    pub credentials: Option<(String, String)>,
    /// Each request's deadline, retries included.
    pub timeout: Duration,
}

impl DynamoSettings {
    pub fn analytics_table(&self) -> String {
        if self.analytics_table.is_empty() {
            format!("{}-analytics", self.table)
        } else {
            self.analytics_table.clone()
        }
    }
}

/// The metadata store on DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    analytics: String,
    /// The last ordered id this process handed out (change and audit ids increase within a
    /// process even when the clock does not move).
    last_id: std::sync::Arc<AtomicU64>,
    /// How long an optimistic write goes on trying while other writers keep winning: the
    /// request deadline (`storage.dynamodb_timeout_ms`).
    contention: Duration,
}

/// An optimistic write's tries (a package's revision): another one while other writers keep
/// winning, until the store's request deadline. Each round one writer wins, so all of many
/// writers at once on one package land, the last after about as many rounds as there are
/// writers; a fixed count of tries failed the last of more writers than it counted.
struct Tries {
    deadline: std::time::Instant,
    attempt: u32,
}

/// The attempts' numbers, from 0; the first attempt is always made.
impl Iterator for Tries {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.attempt > 0 && std::time::Instant::now() >= self.deadline {
            return None;
        }
        self.attempt += 1;
        Some(self.attempt - 1)
    }
}

type Item = HashMap<String, AttributeValue>;

/// What went wrong when opening the store.
#[derive(Debug, thiserror::Error)]
pub enum DynamoOpenError {
    #[error(
        "the DynamoDB table {0} does not exist or has no Pantry Registry layout: create it with `pantry-registry init-aws`"
    )]
    NotInitialised(String),
    #[error("the DynamoDB table {table} holds layout version {found}; this build knows {known}")]
    NewerLayout {
        table: String,
        found: u64,
        known: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `init-aws` did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableInit {
    Created(String),
    Existed(String),
}

fn sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("DynamoDB: {}", describe(&e)))
        }
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("unknown");
            let message = err.message().unwrap_or("");
            match code {
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionInProgressException" => {
                    StoreError::Unavailable(format!("DynamoDB {code}: {message}"))
                }
                "ConditionalCheckFailedException" | "TransactionConflictException" => {
                    StoreError::Conflict(format!("DynamoDB {code}: {message}"))
                }
                _ => StoreError::Backend(format!("DynamoDB {code}: {message}")),
            }
        }
        _ => StoreError::Backend(format!("DynamoDB: {}", describe(&e))),
    }
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("DynamoDB request: {e}"))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key of an item.
fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

/// An item holding `record` as its body, under `pk`/`sk`.
fn record_item<T: serde::Serialize>(pk: &str, sk: &str, record: &T) -> StoreResult<Item> {
    let json = serde_json::to_vec(record).expect("records always serialize");
    let mut item = key(pk, sk);
    item.insert("bytes_len".into(), n(json.len() as u64));
    if json.len() <= INLINE_BODY_BYTES {
        item.insert(
            "body".into(),
            s(String::from_utf8(json).expect("JSON is UTF-8")),
        );
    } else {
        let packed = zstd::bulk::compress(&json, 3)
            .map_err(|e| StoreError::Backend(format!("compressing a record: {e}")))?;
        if packed.len() > MAX_ITEM_BODY_BYTES {
            return Err(StoreError::Denied(super::Denied::invalid(format!(
                "the record is too large for the DynamoDB store: {} bytes of JSON ({} compressed; DynamoDB holds at most 400 KB per item)",
                json.len(),
                packed.len()
            ))));
        }
        item.insert("bodyz".into(), AttributeValue::B(Blob::new(packed)));
    }
    Ok(item)
}

/// The record an item holds.
fn decode_item<T: serde::de::DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let corrupt = |e: String| StoreError::Corrupt(format!("DynamoDB item: {e}"));
    if let Some(AttributeValue::S(json)) = item.get("body") {
        return serde_json::from_str(json).map_err(|e| corrupt(e.to_string()));
    }
    if let Some(AttributeValue::B(packed)) = item.get("bodyz") {
        let json = zstd::stream::decode_all(packed.as_ref()).map_err(|e| corrupt(e.to_string()))?;
        return serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()));
    }
    Err(corrupt("no body".into()))
}

fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn number_attr(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// A condition on one write of a transaction.
#[derive(Clone)]
struct Cond {
    expression: String,
    values: Vec<(String, AttributeValue)>,
}

impl Cond {
    /// The item must not exist.
    fn absent() -> Self {
        Self {
            expression: "attribute_not_exists(PK)".into(),
            values: Vec::new(),
        }
    }

    /// The item must exist.
    fn present() -> Self {
        Self {
            expression: "attribute_exists(PK)".into(),
            values: Vec::new(),
        }
    }

    /// The item must exist at revision `rev`, or not exist when `rev` is `None`.
    fn revision(rev: Option<u64>) -> Self {
        match rev {
            None => Self::absent(),
            Some(rev) => Self {
                expression: "rv = :rv".into(),
                values: vec![(":rv".into(), n(rev))],
            },
        }
    }
}

/// One action of a transaction.
#[derive(Clone)]
enum Write {
    Put(Item, Option<Cond>),
    Delete(Item, Option<Cond>),
    Check(Item, Cond),
    /// Adds to the number attribute `cnt` (creating the item at 0 when missing).
    Add(Item, u64),
}

/// Why a transaction did not commit.
enum TxFailure {
    /// Cancelled: per action, the reason's code (`ConditionalCheckFailed`, `None`,
    /// `TransactionConflict`…).
    Cancelled(Vec<String>),
    Store(StoreError),
}

impl TxFailure {
    /// Whether action `index` failed its condition.
    fn failed_at(&self, index: usize) -> bool {
        matches!(self, TxFailure::Cancelled(codes) if codes.get(index).is_some_and(|c| c == "ConditionalCheckFailed"))
    }
}

/// A short, random pause before an optimistic retry, growing with the attempt.
async fn backoff(attempt: u32) {
    let ceiling = 5u64 << attempt.min(5);
    tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % ceiling + 1)).await;
}

impl DynamoStore {
    /// The tries of one optimistic write, from now.
    fn tries(&self) -> Tries {
        Tries {
            deadline: std::time::Instant::now() + self.contention,
            attempt: 0,
        }
    }

    /// The error for an optimistic write on `what` that kept losing until its deadline.
    fn too_contended(&self, what: &str) -> StoreError {
        StoreError::Conflict(format!(
            "{what} kept being changed by other writers for {} s while this write tried; try again",
            self.contention.as_secs_f64()
        ))
    }

    /// Connects to the tables `settings` names and checks their layout.
    pub async fn open(settings: &DynamoSettings) -> Result<Self, DynamoOpenError> {
        let store = Self::connect(settings).await;
        match store.schema_version().await? {
            None => Err(DynamoOpenError::NotInitialised(store.table.clone())),
            Some(v) if v > DYNAMO_SCHEMA_VERSION => Err(DynamoOpenError::NewerLayout {
                table: store.table.clone(),
                found: v,
                known: DYNAMO_SCHEMA_VERSION,
            }),
            Some(_) => Ok(store),
        }
    }

    /// A client for the tables, without touching them.
    pub async fn connect(settings: &DynamoSettings) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3).min(settings.timeout))
            .operation_timeout(settings.timeout)
            .build();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
        if !settings.region.is_empty() {
            loader = loader.region(aws_config::Region::new(settings.region.clone()));
        }
        if !settings.endpoint.is_empty() {
            loader = loader.endpoint_url(settings.endpoint.clone());
        }
        if let Some((id, secret)) = &settings.credentials {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "pantry-registry settings",
            ));
        }
        let config = loader.load().await;
        let config = if config.region().is_none() {
            config
                .into_builder()
                .region(aws_config::Region::new("us-east-1"))
                .build()
        } else {
            config
        };
        Self {
            client: Client::new(&config),
            table: settings.table.clone(),
            analytics: settings.analytics_table(),
            last_id: Default::default(),
            contention: settings.timeout,
        }
    }

    /// Creates both tables when missing (on-demand capacity, `PK`/`SK` keys, TTL on
    /// `expiry`), waits until they are active, and writes the layout version and the first
    /// change-feed entry. Safe to run twice.
    pub async fn init(settings: &DynamoSettings) -> StoreResult<Vec<TableInit>> {
        let store = Self::connect(settings).await;
        let mut done = Vec::new();
        for table in [store.table.clone(), store.analytics.clone()] {
            done.push(store.create_table(&table).await?);
        }
        if store.schema_version().await?.is_none() {
            let mut meta = key("META", "SCHEMA");
            meta.insert("version".into(), n(DYNAMO_SCHEMA_VERSION));
            let change = store.change_write(&Change::whole());
            store
                .transact(vec![Write::Put(meta, Some(Cond::absent())), change])
                .await
                .map_err(|f| match f {
                    TxFailure::Store(e) => e,
                    TxFailure::Cancelled(_) => {
                        StoreError::Conflict("another init-aws is running".into())
                    }
                })?;
        }
        Ok(done)
    }

    async fn create_table(&self, table: &str) -> StoreResult<TableInit> {
        match self.client.describe_table().table_name(table).send().await {
            Ok(_) => return Ok(TableInit::Existed(table.to_string())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(sdk_error(e)),
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let schema = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        };
        let created = self
            .client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("PK")?)
            .attribute_definitions(attribute("SK")?)
            .key_schema(schema("PK", KeyType::Hash)?)
            .key_schema(schema("SK", KeyType::Range)?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Another init got there first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(sdk_error(e)),
        }
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(sdk_error)?;
            let active = described
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| *s == aws_sdk_dynamodb::types::TableStatus::Active);
            if active {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expiry")
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(TableInit::Created(table.to_string()))
    }

    async fn schema_version(&self) -> StoreResult<Option<u64>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("META", "SCHEMA")))
            .consistent_read(true)
            .send()
            .await;
        match found {
            Ok(out) => Ok(out.item().and_then(|i| number_attr(i, "version"))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// One item of the main table, read strongly consistent.
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        self.get_from(&self.table, pk, sk).await
    }

    async fn get_from(&self, table: &str, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item)
    }

    /// One record of the main table.
    async fn get_record<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> StoreResult<Option<T>> {
        self.get(pk, sk)
            .await?
            .map(|item| decode_item(&item))
            .transpose()
    }

    /// Up to `limit` items of the partition `pk` in sort-key order (descending with
    /// `backwards`), whose sort key starts with `prefix` and comes after `after` (before, when
    /// backwards), read strongly consistent; `limit` 0 is every one.
    async fn query(&self, table: &str, pk: &str, range: Range<'_>) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(table)
                .consistent_read(true)
                .scan_index_forward(!range.backwards)
                .expression_attribute_values(":pk", s(pk));
            let condition = match (range.prefix, range.after, range.before) {
                _ if range.between.is_some() => {
                    let (low, high) = range.between.unwrap_or_default();
                    request = request
                        .expression_attribute_values(":low", s(low))
                        .expression_attribute_values(":high", s(high));
                    "PK = :pk AND SK BETWEEN :low AND :high"
                }
                (_, Some(after), _) => {
                    request = request.expression_attribute_values(":after", s(after));
                    "PK = :pk AND SK > :after"
                }
                (_, None, Some(before)) => {
                    request = request.expression_attribute_values(":before", s(before));
                    "PK = :pk AND SK < :before"
                }
                (Some(prefix), None, None) => {
                    request = request.expression_attribute_values(":prefix", s(prefix));
                    "PK = :pk AND begins_with(SK, :prefix)"
                }
                (None, None, None) => "PK = :pk",
            };
            request = request.key_condition_expression(condition);
            if let Some(projection) = range.projection {
                request = request.projection_expression(projection);
            }
            if range.limit > 0 {
                request = request.limit((range.limit - out.len()).min(1000) as i32);
            }
            let page = request
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items() {
                // An `after` bound with a prefix: the prefix is checked here.
                let in_prefix = range
                    .prefix
                    .is_none_or(|p| string_attr(item, "SK").is_some_and(|sk| sk.starts_with(p)));
                if in_prefix {
                    out.push(item.clone());
                } else if !range.backwards && range.after.is_some() {
                    return Ok(out);
                }
            }
            if range.limit > 0 && out.len() >= range.limit {
                out.truncate(range.limit);
                return Ok(out);
            }
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Every record of a name-keyed listing partition after `after`, up to `limit`.
    async fn page_records<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query(
                &self.table,
                pk,
                Range {
                    after,
                    limit,
                    ..Range::default()
                },
            )
            .await?;
        items.iter().map(decode_item).collect()
    }

    /// Every record in the partition `pk` whose sort key starts with `prefix`.
    async fn records_with_prefix<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> StoreResult<Vec<T>> {
        let items = self
            .query(
                &self.table,
                pk,
                Range {
                    prefix: Some(prefix),
                    ..Range::default()
                },
            )
            .await?;
        items.iter().map(decode_item).collect()
    }

    /// Runs `writes` on the main table as one transaction (at most 100 actions).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), TxFailure> {
        self.transact_on(&self.table, writes).await
    }

    async fn transact_on(&self, table: &str, writes: Vec<Write>) -> Result<(), TxFailure> {
        debug_assert!(writes.len() <= MAX_TRANSACTION_ITEMS);
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            items.push(transact_item(table, write).map_err(TxFailure::Store)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(cancelled) = e.as_service_error().and_then(|s| match s {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                    _ => None,
                }) {
                    let codes = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect();
                    return Err(TxFailure::Cancelled(codes));
                }
                Err(TxFailure::Store(sdk_error(e)))
            }
        }
    }

    /// A single put, with an optional condition: `Ok(false)` when the condition failed.
    async fn put(&self, item: Item, cond: Option<Cond>) -> StoreResult<bool> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if let Some(cond) = cond {
            request = request.condition_expression(cond.expression);
            for (k, v) in cond.values {
                request = request.expression_attribute_values(k, v);
            }
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// A single delete: whether there was an item.
    async fn delete(&self, pk: &str, sk: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// A new ordered id (the 16 hex digits of the time in microseconds, `-`, 8 random hex
    /// digits), greater than every id this process handed out before.
    fn ordered_id(&self) -> String {
        let now = u64::from_str_radix(
            &super::schema::time_key(time::OffsetDateTime::now_utc()),
            16,
        )
        .unwrap_or(0);
        let mut last = self.last_id.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .last_id
                .compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return format!("{next:016x}-{:08x}", rand::random::<u32>()),
                Err(seen) => last = seen,
            }
        }
    }
}

/// The bounds of a [`DynamoStore::query`].
#[derive(Default, Clone, Copy)]
struct Range<'a> {
    prefix: Option<&'a str>,
    after: Option<&'a str>,
    before: Option<&'a str>,
    /// Both ends included.
    between: Option<(&'a str, &'a str)>,
    backwards: bool,
    limit: usize,
    projection: Option<&'a str>,
}

fn transact_item(table: &str, write: Write) -> StoreResult<TransactWriteItem> {
    Ok(match write {
        Write::Put(item, cond) => {
            let mut put = Put::builder().table_name(table).set_item(Some(item));
            if let Some(cond) = cond {
                put = put.condition_expression(cond.expression);
                for (k, v) in cond.values {
                    put = put.expression_attribute_values(k, v);
                }
            }
            TransactWriteItem::builder()
                .put(put.build().map_err(build_error)?)
                .build()
        }
        Write::Delete(k, cond) => {
            let mut delete = Delete::builder().table_name(table).set_key(Some(k));
            if let Some(cond) = cond {
                delete = delete.condition_expression(cond.expression);
                for (k, v) in cond.values {
                    delete = delete.expression_attribute_values(k, v);
                }
            }
            TransactWriteItem::builder()
                .delete(delete.build().map_err(build_error)?)
                .build()
        }
        Write::Add(k, amount) => TransactWriteItem::builder()
            .update(
                aws_sdk_dynamodb::types::Update::builder()
                    .table_name(table)
                    .set_key(Some(k))
                    .update_expression("ADD cnt :n")
                    .expression_attribute_values(":n", n(amount))
                    .build()
                    .map_err(build_error)?,
            )
            .build(),
        Write::Check(k, cond) => {
            let mut check = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(k))
                .condition_expression(cond.expression);
            for (k, v) in cond.values {
                check = check.expression_attribute_values(k, v);
            }
            TransactWriteItem::builder()
                .condition_check(check.build().map_err(build_error)?)
                .build()
        }
    })
}
