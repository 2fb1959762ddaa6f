//! The seed's download analytics: `/analytics/top`, `/analytics/{name}`,
//! `/analytics/{name}/timeline`. Counts come from every successful tarball download (npm
//! protocol, Pantry API, npm fallback, Zig); `?ecosystem=zig` reads a Zig package's counts.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;

use super::ApiTags;
use super::auth::ApiReader;
use crate::api_error_variants;
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::downloads::{Ecosystem, Period, package_counts, top_packages};
use crate::error::{ApiError, ErrorBody};
use crate::store::DownloadCount;

/// Longest timeline served, in days.
pub const MAX_TIMELINE_DAYS: u32 = 366;

#[derive(Debug, Object)]
#[oai(example)]
pub struct TopPackage {
    pub name: String,
    pub downloads: u64,
}

impl Example for TopPackage {
    fn example() -> Self {
        TopPackage {
            name: "left-pad".into(),
            downloads: 1_284,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct TopPackages {
    /// Most downloaded first.
    pub packages: Vec<TopPackage>,
}

impl Example for TopPackages {
    fn example() -> Self {
        TopPackages {
            packages: vec![
                TopPackage::example(),
                TopPackage {
                    name: "@acme/widget".into(),
                    downloads: 311,
                },
            ],
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct PackageStats {
    pub package_name: String,
    pub total_downloads: u64,
    /// The last 7 UTC days, today included.
    pub weekly_downloads: u64,
    /// The last 30 UTC days, today included.
    pub monthly_downloads: u64,
    /// Version -> downloads.
    pub version_downloads: BTreeMap<String, u64>,
    /// The last UTC day with a download (`YYYY-MM-DD`); absent when there was none.
    #[oai(skip_serializing_if_is_none)]
    pub last_download: Option<String>,
}

impl Example for PackageStats {
    fn example() -> Self {
        PackageStats {
            package_name: "left-pad".into(),
            total_downloads: 1_284,
            weekly_downloads: 96,
            monthly_downloads: 402,
            version_downloads: [("1.2.0".to_string(), 188), ("1.3.0".to_string(), 1_096)].into(),
            last_download: Some("2025-06-02".into()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct TimelinePoint {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub count: u64,
}

impl Example for TimelinePoint {
    fn example() -> Self {
        TimelinePoint {
            date: "2025-06-02".into(),
            count: 14,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct Timeline {
    pub package_name: String,
    /// One entry per day, oldest first, ending today (UTC), zero-filled.
    pub timeline: Vec<TimelinePoint>,
}

impl Example for Timeline {
    fn example() -> Self {
        Timeline {
            package_name: "left-pad".into(),
            timeline: vec![
                TimelinePoint {
                    date: "2025-05-31".into(),
                    count: 9,
                },
                TimelinePoint {
                    date: "2025-06-01".into(),
                    count: 0,
                },
                TimelinePoint::example(),
            ],
        }
    }
}

#[derive(ApiResponse)]
pub enum TopResponse {
    #[oai(status = 200)]
    Ok(Json<TopPackages>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(TopResponse { Internal });

#[derive(ApiResponse)]
pub enum StatsResponse {
    /// Counts; a known package with no downloads has zeros.
    #[oai(status = 200)]
    Ok(Json<PackageStats>),
    /// An unknown `ecosystem`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `{"error":"Package not found"}`: no such package.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(StatsResponse {
    BadRequest,
    Unauthorized,
    NotFound,
    Internal
});

#[derive(ApiResponse)]
pub enum TimelineResponse {
    #[oai(status = 200)]
    Ok(Json<Timeline>),
    /// `days` is not a number, or an unknown `ecosystem`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(TimelineResponse {
    BadRequest,
    Unauthorized,
    NotFound,
    Internal
});

pub struct AnalyticsApi {
    pub core: Arc<Core>,
}

impl AnalyticsApi {
    /// The counts of a known package, written up to now; 404 for an unknown package.
    async fn counts(
        &self,
        reader: &Reader,
        name: &str,
        ecosystem: Option<&str>,
    ) -> Result<Vec<DownloadCount>, ApiError> {
        // `/analytics/top` names a Zig package `zig:<name>`: that name reads it too.
        let (name, ecosystem) = match name.strip_prefix("zig:") {
            Some(zig) if ecosystem.is_none_or(|e| e == "zig") => (zig, Some("zig")),
            _ => (name, ecosystem),
        };
        package_counts(&self.core, reader, Ecosystem::parse(ecosystem)?, name)
            .await?
            .ok_or_else(|| ApiError::not_found("Package not found"))
    }
}

#[OpenApi(tag = "ApiTags::Analytics")]
impl AnalyticsApi {
    /// Most downloaded packages
    ///
    /// `{"packages":[{"name","downloads"}]}`, most downloaded first; `limit` defaults to 10.
    /// Zig packages appear as `zig:<name>`, the name `/analytics/{name}` reads them by.
    /// Packages the caller may not read (`access.*`) are
    /// left out.
    #[oai(path = "/analytics/top", method = "get", operation_id = "topPackages")]
    async fn top_packages(&self, reader: ApiReader, limit: Query<Option<String>>) -> TopResponse {
        let limit = limit
            .0
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(10)
            .clamp(1, 1000);
        match top_packages(&self.core, &reader.0, limit).await {
            Ok(top) => TopResponse::Ok(Json(TopPackages {
                packages: top
                    .into_iter()
                    .map(|(name, downloads)| TopPackage { name, downloads })
                    .collect(),
            })),
            Err(e) => ApiError::from(e).into(),
        }
    }

    /// Download counts of a package
    ///
    /// Total, last 7 and 30 UTC days, per version, and the last day with a download. A known
    /// package that was never downloaded answers zeros; an unknown one 404. `ecosystem=zig` reads
    /// a Zig package.
    #[oai(
        path = "/analytics/:name",
        method = "get",
        operation_id = "packageStats"
    )]
    async fn package_stats(
        &self,
        reader: ApiReader,
        name: Path<String>,
        /// `npm` (the default) or `zig`.
        #[oai(validator(pattern = "^(npm|zig)$"))]
        ecosystem: Query<Option<String>>,
    ) -> StatsResponse {
        let counts = match self.counts(&reader.0, &name, ecosystem.0.as_deref()).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let today = OffsetDateTime::now_utc().date();
        let mut version_downloads = BTreeMap::new();
        for c in &counts {
            *version_downloads.entry(c.version.clone()).or_insert(0) += c.count;
        }
        StatsResponse::Ok(Json(PackageStats {
            package_name: name.0,
            total_downloads: counts.iter().map(|c| c.count).sum(),
            weekly_downloads: Period::last_days(7, today).total(&counts),
            monthly_downloads: Period::last_days(30, today).total(&counts),
            version_downloads,
            last_download: counts.iter().map(|c| c.day.clone()).max(),
        }))
    }

    /// Daily downloads of a package
    ///
    /// `days` (default 30, at most 366) entries, oldest first, ending today (UTC), zero-filled.
    #[oai(
        path = "/analytics/:name/timeline",
        method = "get",
        operation_id = "packageTimeline"
    )]
    async fn package_timeline(
        &self,
        reader: ApiReader,
        name: Path<String>,
        /// Days of history, 30 unless given, at most 366.
        #[oai(validator(pattern = "^[0-9]+$"))]
        days: Query<Option<String>>,
        /// `npm` (the default) or `zig`.
        #[oai(validator(pattern = "^(npm|zig)$"))]
        ecosystem: Query<Option<String>>,
    ) -> TimelineResponse {
        let days = match days.0.as_deref().map(str::parse::<u32>) {
            None => 30,
            Some(Ok(d)) => d.min(MAX_TIMELINE_DAYS),
            Some(Err(_)) => {
                return ApiError::bad_request("days must be a whole number of days").into();
            }
        };
        let counts = match self.counts(&reader.0, &name, ecosystem.0.as_deref()).await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let timeline = Period::last_days(days, OffsetDateTime::now_utc().date())
            .daily(&counts)
            .into_iter()
            .map(|(date, count)| TimelinePoint { date, count })
            .collect();
        TimelineResponse::Ok(Json(Timeline {
            package_name: name.0,
            timeline,
        }))
    }
}
