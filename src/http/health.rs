//! `GET /health`: the process is up and its metadata store answers.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;

use crate::api::ApiTags;
use crate::core::Core;
use crate::error::ErrorBody;
use crate::search::IndexState;

#[derive(Debug, Object)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The server's clock, RFC 3339 UTC with milliseconds (`2026-03-29T06:50:05.148Z`).
    pub timestamp: String,
    pub search: SearchHealth,
}

#[derive(Debug, Object)]
pub struct SearchHealth {
    /// `ready`, `building` (being rebuilt from the store; searches answer from what was
    /// indexed before) or `closed` (not started).
    pub state: String,
    /// Packages in the index.
    pub documents: u64,
    /// Package changes not yet searchable (normally 0; they are applied within a second).
    pub pending: u64,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The server is up and its metadata store answers.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// The metadata store does not answer.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

pub struct HealthApi {
    pub core: Arc<Core>,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check
    ///
    /// `{"status":"ok","timestamp":"...","search":{"state","documents"}}` when the server can
    /// read its metadata store.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> HealthResponse {
        match self.core.store.package("health-check-probe").await {
            Ok(_) => HealthResponse::Ok(Json(Health {
                status: "ok".into(),
                timestamp: crate::core::timestamps::iso(OffsetDateTime::now_utc()),
                search: SearchHealth {
                    state: match self.core.search.state() {
                        IndexState::Ready => "ready",
                        IndexState::Building => "building",
                        IndexState::Closed => "closed",
                    }
                    .into(),
                    documents: self.core.search.documents(),
                    pending: self.core.search.pending(),
                },
            })),
            Err(e) => {
                tracing::error!(error = %e, "health check: metadata store failed");
                HealthResponse::Unavailable(Json(ErrorBody {
                    error: "Metadata store unavailable".into(),
                }))
            }
        }
    }
}
