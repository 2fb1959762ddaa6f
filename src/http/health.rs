//! `GET /health`: the process is up and its metadata store answers (the seed's liveness
//! shape). `GET /ready`: every part a request may need answers (the metadata store, the blob
//! store, and the upstream when the fallback may ask it), for a load balancer's readiness probe.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;

use crate::api::ApiTags;
use crate::core::Core;
use crate::error::ErrorBody;
use crate::search::IndexState;

#[derive(Debug, Object)]
#[oai(example)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The server's clock, RFC 3339 UTC with milliseconds (`2026-03-29T06:50:05.148Z`).
    pub timestamp: String,
    pub search: SearchHealth,
}

impl Example for Health {
    fn example() -> Self {
        Health {
            status: "ok".into(),
            timestamp: "2025-06-02T14:03:27.512Z".into(),
            search: SearchHealth::example(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct SearchHealth {
    /// `ready`, `building` (being rebuilt from the store; searches answer from what was
    /// indexed before) or `closed` (not started).
    pub state: String,
    /// Packages in the index.
    pub documents: u64,
    /// Package changes not yet searchable (normally 0; they are applied within a second).
    pub pending: u64,
}

impl Example for SearchHealth {
    fn example() -> Self {
        SearchHealth {
            state: "ready".into(),
            documents: 1_842,
            pending: 0,
        }
    }
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

/// One part's state in a readiness check.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PartCheck {
    /// `ok`, `failing`, or `skipped` (the upstream, when the fallback is off or offline).
    pub state: String,
    /// Why it fails.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// How long the check took, in milliseconds.
    pub ms: u64,
}

impl Example for PartCheck {
    fn example() -> Self {
        PartCheck {
            state: "ok".into(),
            error: None,
            ms: 2,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct Readiness {
    /// `ready`, or `unavailable` when a part fails.
    pub status: String,
    pub store: PartCheck,
    pub blobs: PartCheck,
    pub upstream: PartCheck,
}

impl Example for Readiness {
    fn example() -> Self {
        Readiness {
            status: "ready".into(),
            store: PartCheck::example(),
            blobs: PartCheck::example(),
            upstream: PartCheck {
                state: "skipped".into(),
                error: None,
                ms: 0,
            },
        }
    }
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every part answers.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// A part fails; the body says which and why.
    #[oai(status = 503)]
    Unavailable(Json<Readiness>),
}

/// Times `check` into a [`PartCheck`].
async fn check_part<E: std::fmt::Display>(
    check: impl std::future::Future<Output = Result<(), E>>,
) -> PartCheck {
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(READY_TIMEOUT, check).await;
    let ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(Ok(())) => PartCheck {
            state: "ok".into(),
            error: None,
            ms,
        },
        Ok(Err(e)) => PartCheck {
            state: "failing".into(),
            error: Some(e.to_string()),
            ms,
        },
        Err(_) => PartCheck {
            state: "failing".into(),
            error: Some(format!("no answer within {} s", READY_TIMEOUT.as_secs())),
            ms,
        },
    }
}

/// The longest a readiness check of one part may take.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct HealthApi {
    pub core: Arc<Core>,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Readiness check
    ///
    /// Checks, at once, that the metadata store answers a read, that the blob store answers a
    /// listing, and, when the npm fallback is on and not offline, that the upstream registry
    /// answers (`/-/ping`). 200 when all do; 503 naming the part that fails and why.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> ReadyResponse {
        let core = &self.core;
        let npm = &core.settings.npm;
        let store = check_part(async { core.store.package("readiness-probe").await.map(drop) });
        let blobs = check_part(core.blobs.probe());
        let upstream = async {
            if npm.fallback && !npm.offline {
                check_part(core.fallback.ping()).await
            } else {
                PartCheck {
                    state: "skipped".into(),
                    error: None,
                    ms: 0,
                }
            }
        };
        let (store, blobs, upstream) = tokio::join!(store, blobs, upstream);
        let failing = [&store, &blobs, &upstream]
            .iter()
            .any(|p| p.state == "failing");
        for (part, check) in [
            ("store", &store),
            ("blobs", &blobs),
            ("upstream", &upstream),
        ] {
            if let Some(e) = &check.error {
                tracing::warn!(part, error = %e, "readiness check failing");
            }
        }
        let body = Readiness {
            status: if failing { "unavailable" } else { "ready" }.into(),
            store,
            blobs,
            upstream,
        };
        if failing {
            ReadyResponse::Unavailable(Json(body))
        } else {
            ReadyResponse::Ready(Json(body))
        }
    }

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
