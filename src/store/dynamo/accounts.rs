//! [`UserStore`] and [`TokenStore`] on DynamoDB: users in the `USERS` partition by name; each
//! token in its own `TOKEN#<sha256>` item (the lookup every authenticated request makes), and
//! its public id in the `TOKENS` partition pointing at that hash (listing and revoking).

use async_trait::async_trait;

use super::{Cond, DynamoStore, TxFailure, Write, decode_item, key, record_item};
use crate::store::{StoreError, StoreResult, TokenRecord, TokenStore, UserRecord, UserStore};

const USERS: &str = "USERS";
const TOKEN_IDS: &str = "TOKENS";

fn token_pk(hash: &str) -> String {
    format!("TOKEN#{hash}")
}

const TOKEN_SK: &str = "TOKEN";

#[async_trait]
impl UserStore for DynamoStore {
    async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        self.get_record(USERS, name).await
    }

    async fn insert_user(&self, user: UserRecord) -> StoreResult<()> {
        let item = record_item(USERS, &user.name, &user)?;
        if self.put(item, Some(Cond::absent())).await? {
            Ok(())
        } else {
            Err(StoreError::UserExists(user.name))
        }
    }

    async fn update_user(&self, user: UserRecord) -> StoreResult<()> {
        self.put(record_item(USERS, &user.name, &user)?, None)
            .await
            .map(drop)
    }

    async fn delete_user(&self, name: &str) -> StoreResult<bool> {
        self.delete(USERS, name).await
    }

    async fn users_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<UserRecord>> {
        self.page_records(USERS, after, limit).await
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn insert_token(&self, token: TokenRecord) -> StoreResult<()> {
        let writes = vec![
            Write::Put(record_item(&token_pk(&token.hash), TOKEN_SK, &token)?, None),
            Write::Put(
                record_item(TOKEN_IDS, &token.id, &token.hash)?,
                Some(Cond::absent()),
            ),
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TxFailure::Cancelled(_)) => Err(StoreError::Conflict(format!(
                "a token with id {} already exists",
                token.id
            ))),
            Err(TxFailure::Store(e)) => Err(e),
        }
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        self.get_record(&token_pk(hash), TOKEN_SK).await
    }

    async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let Some(hash) = self.get_record::<String>(TOKEN_IDS, id).await? else {
            return Ok(None);
        };
        self.token_by_hash(&hash).await
    }

    async fn tokens_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<TokenRecord>> {
        let hashes: Vec<String> = self.page_records(TOKEN_IDS, after, limit).await?;
        let found =
            futures_util::future::try_join_all(hashes.iter().map(|h| self.token_by_hash(h)))
                .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn revoke_token(&self, id: &str) -> StoreResult<bool> {
        let Some(hash) = self.get_record::<String>(TOKEN_IDS, id).await? else {
            return Ok(false);
        };
        let writes = vec![
            Write::Delete(key(TOKEN_IDS, id), Some(Cond::present())),
            Write::Delete(key(&token_pk(&hash), TOKEN_SK), None),
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(true),
            // Revoked by someone else meanwhile.
            Err(TxFailure::Cancelled(_)) => Ok(false),
            Err(TxFailure::Store(e)) => Err(e),
        }
    }

    async fn touch_tokens(&self, uses: Vec<(String, time::OffsetDateTime)>) -> StoreResult<()> {
        for (hash, at) in uses {
            let Some(item) = self.get(&token_pk(&hash), TOKEN_SK).await? else {
                continue;
            };
            let mut token: TokenRecord = decode_item(&item)?;
            if token.last_used.is_some_and(|last| last >= at) {
                continue;
            }
            token.last_used = Some(at);
            // Only while it exists: a revoked token is not written back.
            self.put(
                record_item(&token_pk(&hash), TOKEN_SK, &token)?,
                Some(Cond::present()),
            )
            .await?;
        }
        Ok(())
    }
}
