//! [`UserStore`] and [`TokenStore`] on redb: user accounts, and API tokens keyed by their hash.

use async_trait::async_trait;
use redb::ReadableTable;

use super::{RedbStore, backend, encode};
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

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.list_json(USERS).await
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

    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let mut out: Vec<TokenRecord> = self.list_json(TOKENS).await?;
        out.sort_by_key(|t| t.created_at);
        Ok(out)
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
