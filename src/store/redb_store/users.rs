//! [`UserStore`] and [`TokenStore`] on redb: user accounts, and API tokens keyed by their hash.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode, encode};
use crate::store::schema::{TOKEN_IDS, TOKENS, USERS};
use crate::store::{StoreError, StoreResult, TokenRecord, TokenStore, UserRecord, UserStore};

#[async_trait]
impl UserStore for RedbStore {
    async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        self.get_json(USERS, name).await
    }

    async fn insert_user(&self, user: UserRecord) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(USERS).map_err(backend)?;
                if table.get(user.name.as_str()).map_err(backend)?.is_some() {
                    return Err(StoreError::UserExists(user.name.clone()));
                }
                table
                    .insert(user.name.as_str(), encode(&user).as_str())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn update_user(&self, user: UserRecord) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(USERS)
                .map_err(backend)?
                .insert(user.name.as_str(), encode(&user).as_str())
                .map_err(backend)?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn delete_user(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let removed = txn
                .open_table(USERS)
                .map_err(backend)?
                .remove(name.as_str())
                .map_err(backend)?
                .is_some();
            txn.commit().map_err(backend)?;
            Ok(removed)
        })
        .await
    }

    async fn users_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<UserRecord>> {
        self.page_json(USERS, after, limit).await
    }
}

#[async_trait]
impl TokenStore for RedbStore {
    async fn insert_token(&self, token: TokenRecord) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(TOKENS)
                .map_err(backend)?
                .insert(token.hash.as_str(), encode(&token).as_str())
                .map_err(backend)?;
            {
                let mut ids = txn.open_table(TOKEN_IDS).map_err(backend)?;
                // Ids are short: a second token under one would make revoking by id ambiguous.
                if ids.get(token.id.as_str()).map_err(backend)?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "a token with id {} already exists",
                        token.id
                    )));
                }
                ids.insert(token.id.as_str(), token.hash.as_str())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        self.get_json(TOKENS, hash).await
    }

    async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let ids = txn.open_table(TOKEN_IDS).map_err(backend)?;
            let Some(hash) = ids.get(id.as_str()).map_err(backend)? else {
                return Ok(None);
            };
            let tokens = txn.open_table(TOKENS).map_err(backend)?;
            let found = tokens.get(hash.value()).map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn tokens_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<TokenRecord>> {
        let after = after.map(str::to_string);
        self.blocking(move |db| {
            use std::ops::Bound;
            let txn = db.begin_read().map_err(backend)?;
            let ids = txn.open_table(TOKEN_IDS).map_err(backend)?;
            let tokens = txn.open_table(TOKENS).map_err(backend)?;
            let start = match &after {
                Some(a) => Bound::Excluded(a.as_str()),
                None => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for row in ids
                .range::<&str>((start, Bound::Unbounded))
                .map_err(backend)?
                .take(limit)
            {
                let (_, hash) = row.map_err(backend)?;
                if let Some(token) = tokens.get(hash.value()).map_err(backend)? {
                    out.push(decode(token.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn touch_tokens(&self, uses: Vec<(String, time::OffsetDateTime)>) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(TOKENS).map_err(backend)?;
                for (hash, at) in &uses {
                    let current: Option<TokenRecord> = table
                        .get(hash.as_str())
                        .map_err(backend)?
                        .map(|v| decode(v.value()))
                        .transpose()?;
                    if let Some(mut t) = current
                        && t.last_used.is_none_or(|last| *at > last)
                    {
                        t.last_used = Some(*at);
                        table
                            .insert(hash.as_str(), encode(&t).as_str())
                            .map_err(backend)?;
                    }
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn revoke_token(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let removed = {
                let mut ids = txn.open_table(TOKEN_IDS).map_err(backend)?;
                let hash = ids
                    .remove(id.as_str())
                    .map_err(backend)?
                    .map(|h| h.value().to_string());
                match hash {
                    Some(h) => txn
                        .open_table(TOKENS)
                        .map_err(backend)?
                        .remove(h.as_str())
                        .map_err(backend)?
                        .is_some(),
                    None => false,
                }
            };
            txn.commit().map_err(backend)?;
            Ok(removed)
        })
        .await
    }
}
