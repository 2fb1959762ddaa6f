//! npm's download-counts API shape (api.npmjs.org): `/downloads/point/{period}[/{pkg}]`,
//! `/downloads/range/{period}[/{pkg}]` and `/versions/{pkg}/last-week`, over the same counts as
//! `/analytics`. Differences from npm: periods end today (UTC; our counts are live, npm's end
//! yesterday), scoped names are accepted in bulk lists, and `?ecosystem=zig` reads Zig packages.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Object, OpenApi, Union};
use time::OffsetDateTime;

use super::ApiTags;
use super::auth::ApiReader;
use crate::api_error_variants;
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::downloads::{
    Ecosystem, Period, ecosystem_daily, package_counts, package_versions,
};
use crate::error::{ApiError, ErrorBody};

/// Most names one bulk request may list (npm's limit).
pub const MAX_BULK_NAMES: usize = 128;
/// The longest period a list of names may ask for (npm's limit for bulk queries).
pub const MAX_BULK_DAYS: i64 = 365;

/// Downloads per day, oldest first, one entry per day of the period.
type Daily = Vec<(String, u64)>;

#[derive(Debug, Object)]
#[oai(example)]
pub struct PointDownloads {
    pub downloads: u64,
    /// First day counted, `YYYY-MM-DD` (UTC).
    pub start: String,
    /// Last day counted, `YYYY-MM-DD` (UTC), included.
    pub end: String,
    /// Absent when every package is counted.
    #[oai(skip_serializing_if_is_none)]
    pub package: Option<String>,
}

impl Example for PointDownloads {
    fn example() -> Self {
        PointDownloads {
            downloads: 96,
            start: "2025-05-27".into(),
            end: "2025-06-02".into(),
            package: Some("left-pad".into()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct DayDownloads {
    pub downloads: u64,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
}

impl Example for DayDownloads {
    fn example() -> Self {
        DayDownloads {
            downloads: 14,
            day: "2025-06-02".into(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct RangeDownloads {
    pub start: String,
    pub end: String,
    /// Absent when every package is counted.
    #[oai(skip_serializing_if_is_none)]
    pub package: Option<String>,
    /// One entry per day of the period, oldest first, zero-filled.
    pub downloads: Vec<DayDownloads>,
}

impl Example for RangeDownloads {
    fn example() -> Self {
        RangeDownloads {
            start: "2025-05-31".into(),
            end: "2025-06-02".into(),
            package: Some("left-pad".into()),
            downloads: vec![
                DayDownloads {
                    downloads: 9,
                    day: "2025-05-31".into(),
                },
                DayDownloads {
                    downloads: 0,
                    day: "2025-06-01".into(),
                },
                DayDownloads::example(),
            ],
        }
    }
}

impl PointDownloads {
    fn new(period: &Period, package: Option<String>, daily: Daily) -> Self {
        PointDownloads {
            downloads: daily.iter().map(|(_, n)| n).sum(),
            start: period.first_day(),
            end: period.last_day(),
            package,
        }
    }
}

impl RangeDownloads {
    fn new(period: &Period, package: Option<String>, daily: Daily) -> Self {
        RangeDownloads {
            start: period.first_day(),
            end: period.last_day(),
            package,
            downloads: daily
                .into_iter()
                .map(|(day, downloads)| DayDownloads { downloads, day })
                .collect(),
        }
    }
}

/// One package's answer, or for a comma-separated list an object keyed by name whose value is
/// that package's answer, or `null` for an unknown package.
#[derive(Debug, Union)]
pub enum Counts<T: poem_openapi::types::Type + ToJSON + ParseFromJSON> {
    One(T),
    Bulk(BTreeMap<String, Option<T>>),
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct VersionDownloads {
    pub package: String,
    /// Version -> downloads in the last 7 UTC days (today included). Every published version
    /// is present, zero when not downloaded.
    pub downloads: BTreeMap<String, u64>,
}

impl Example for VersionDownloads {
    fn example() -> Self {
        VersionDownloads {
            package: "left-pad".into(),
            downloads: [("1.2.0".to_string(), 11), ("1.3.0".to_string(), 85)].into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum AllPointResponse {
    #[oai(status = 200)]
    Ok(Json<PointDownloads>),
    /// A bad period or an unknown `ecosystem`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(AllPointResponse {
    BadRequest,
    Internal
});

#[derive(ApiResponse)]
pub enum AllRangeResponse {
    #[oai(status = 200)]
    Ok(Json<RangeDownloads>),
    /// A bad period or an unknown `ecosystem`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(AllRangeResponse {
    BadRequest,
    Internal
});

#[derive(ApiResponse)]
pub enum PointResponse {
    /// One package's total, or (for a list) an object of them keyed by name.
    #[oai(status = 200)]
    Ok(Json<Counts<PointDownloads>>),
    /// A bad period, an unknown `ecosystem`, an empty name in a list, more than 128 names, or
    /// a list over more than 365 days.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `{"error":"package <name> not found"}`: a single unknown package.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(PointResponse {
    BadRequest,
    Unauthorized,
    NotFound,
    Internal
});

#[derive(ApiResponse)]
pub enum RangeResponse {
    /// One package's days, or (for a list) an object of them keyed by name.
    #[oai(status = 200)]
    Ok(Json<Counts<RangeDownloads>>),
    /// A bad period, an unknown `ecosystem`, an empty name in a list, more than 128 names, or
    /// a list over more than 365 days.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `{"error":"package <name> not found"}`: a single unknown package.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(RangeResponse {
    BadRequest,
    Unauthorized,
    NotFound,
    Internal
});

#[derive(ApiResponse)]
pub enum VersionsResponse {
    #[oai(status = 200)]
    Ok(Json<VersionDownloads>),
    /// An unknown `ecosystem`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `{"error":"package <name> not found"}`.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(VersionsResponse {
    BadRequest,
    Unauthorized,
    NotFound,
    Internal
});

pub struct DownloadsApi {
    pub core: Arc<Core>,
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("package {name} not found"))
}

impl DownloadsApi {
    /// Every package of the ecosystem, summed per day.
    async fn all(
        &self,
        period: &str,
        ecosystem: Option<&str>,
    ) -> Result<(Period, Daily), ApiError> {
        let period = Period::parse(period, OffsetDateTime::now_utc().date())?;
        let daily = ecosystem_daily(&self.core, Ecosystem::parse(ecosystem)?, &period)
            .await
            .map_err(ApiError::internal)?;
        Ok((period, daily))
    }

    /// The answer for `{pkg}`: one package (404 when unknown), or a comma-separated list of
    /// them (`null` for each unknown one).
    async fn per_package<T: poem_openapi::types::Type + ToJSON + ParseFromJSON>(
        &self,
        period: &str,
        pkg: &str,
        ecosystem: Option<&str>,
        reader: &Reader,
        answer: fn(&Period, Option<String>, Daily) -> T,
    ) -> Result<Counts<T>, ApiError> {
        let period = Period::parse(period, OffsetDateTime::now_utc().date())?;
        let eco = Ecosystem::parse(ecosystem)?;
        let answer_of = async |name: &str| {
            let counts = package_counts(&self.core, reader, eco, name).await?;
            Ok::<_, ApiError>(
                counts.map(|c| answer(&period, Some(name.to_string()), period.daily(&c))),
            )
        };
        if !pkg.contains(',') {
            return Ok(Counts::One(
                answer_of(pkg).await?.ok_or_else(|| not_found(pkg))?,
            ));
        }
        let names: Vec<&str> = pkg.split(',').collect();
        if names.len() > MAX_BULK_NAMES {
            return Err(ApiError::bad_request(format!(
                "{} package names; at most {MAX_BULK_NAMES} in one request",
                names.len()
            )));
        }
        if names.iter().any(|n| n.is_empty()) {
            return Err(ApiError::bad_request("empty package name in the list"));
        }
        if let Some(bad) = names.iter().find(|n| n.chars().any(char::is_whitespace)) {
            return Err(ApiError::bad_request(format!(
                "{bad:?} is not a package name: names in a list are separated by commas only"
            )));
        }
        if period.len_days() > MAX_BULK_DAYS {
            return Err(ApiError::bad_request(format!(
                "a list of names may ask for at most {MAX_BULK_DAYS} days, not {}",
                period.len_days()
            )));
        }
        let mut out = BTreeMap::new();
        for name in names {
            if !out.contains_key(name) {
                // In a list, a package the caller may not read is as unknown as a missing one.
                let answer = match answer_of(name).await {
                    Err(e) if e.kind == crate::error::ErrorKind::Unauthorized => None,
                    other => other?,
                };
                out.insert(name.to_string(), answer);
            }
        }
        Ok(Counts::Bulk(out))
    }
}

#[OpenApi(tag = "ApiTags::Analytics")]
impl DownloadsApi {
    /// Downloads of every package in a period (npm's shape)
    ///
    /// `{"downloads","start","end"}` summed over every package of the ecosystem (published here
    /// or proxied). `period` is `last-day` (today), `last-week` (7 days), `last-month` (30),
    /// `last-year` (365), `YYYY-MM-DD`, or `YYYY-MM-DD:YYYY-MM-DD` (both included, at most 550
    /// days). Periods end today, UTC: unlike npm's, our counts are live. `ecosystem=zig` counts
    /// Zig packages.
    #[oai(
        path = "/downloads/point/:period",
        method = "get",
        operation_id = "allDownloadsPoint"
    )]
    async fn all_downloads_point(
        &self,
        period: Path<String>,
        /// `npm` (the default) or `zig`.
        #[oai(validator(pattern = "^(npm|zig)$"))]
        ecosystem: Query<Option<String>>,
    ) -> AllPointResponse {
        match self.all(&period, ecosystem.0.as_deref()).await {
            Ok((period, daily)) => {
                AllPointResponse::Ok(Json(PointDownloads::new(&period, None, daily)))
            }
            Err(e) => e.into(),
        }
    }

    /// Downloads of a package in a period (npm's shape)
    ///
    /// `{"downloads","start","end","package"}`. `pkg` may be a comma-separated list (at most
    /// 128 names, scoped names allowed, unlike npm): the answer is then an object keyed by
    /// name, `null` for an unknown package. A single unknown package is 404. Periods as for
    /// all packages; `ecosystem=zig` reads Zig packages.
    #[oai(
        path = "/downloads/point/:period/:pkg",
        method = "get",
        operation_id = "packageDownloadsPoint"
    )]
    async fn package_downloads_point(
        &self,
        reader: ApiReader,
        period: Path<String>,
        pkg: Path<String>,
        /// `npm` (the default) or `zig`.
        #[oai(validator(pattern = "^(npm|zig)$"))]
        ecosystem: Query<Option<String>>,
    ) -> PointResponse {
        match self
            .per_package(
                &period,
                &pkg,
                ecosystem.0.as_deref(),
                &reader.0,
                PointDownloads::new,
            )
            .await
        {
            Ok(counts) => PointResponse::Ok(Json(counts)),
            Err(e) => e.into(),
        }
    }

    /// Daily downloads of every package in a period (npm's shape)
    ///
    /// `{"start","end","downloads":[{"downloads","day"}]}`: one entry per day, oldest first,
    /// zero-filled, summed over every package of the ecosystem. Periods as for the point
    /// routes; they end today, UTC.
    #[oai(
        path = "/downloads/range/:period",
        method = "get",
        operation_id = "allDownloadsRange"
    )]
    async fn all_downloads_range(
        &self,
        period: Path<String>,
        /// `npm` (the default) or `zig`.
        #[oai(validator(pattern = "^(npm|zig)$"))]
        ecosystem: Query<Option<String>>,
    ) -> AllRangeResponse {
        match self.all(&period, ecosystem.0.as_deref()).await {
            Ok((period, daily)) => {
                AllRangeResponse::Ok(Json(RangeDownloads::new(&period, None, daily)))
            }
            Err(e) => e.into(),
        }
    }

    /// Daily downloads of a package in a period (npm's shape)
    ///
    /// `{"start","end","package","downloads":[{"downloads","day"}]}`, oldest first,
    /// zero-filled. `pkg` may be a comma-separated list as for the point route (an object keyed
    /// by name, `null` for an unknown package); a single unknown package is 404.
    #[oai(
        path = "/downloads/range/:period/:pkg",
        method = "get",
        operation_id = "packageDownloadsRange"
    )]
    async fn package_downloads_range(
        &self,
        reader: ApiReader,
        period: Path<String>,
        pkg: Path<String>,
        /// `npm` (the default) or `zig`.
        #[oai(validator(pattern = "^(npm|zig)$"))]
        ecosystem: Query<Option<String>>,
    ) -> RangeResponse {
        match self
            .per_package(
                &period,
                &pkg,
                ecosystem.0.as_deref(),
                &reader.0,
                RangeDownloads::new,
            )
            .await
        {
            Ok(counts) => RangeResponse::Ok(Json(counts)),
            Err(e) => e.into(),
        }
    }

    /// Downloads of each version of a package in the last week (npm's shape)
    ///
    /// `{"package","downloads":{"<version>":N}}` over the last 7 UTC days, today included.
    /// Every published version is present (zero when not downloaded), as is any version
    /// downloaded that week and since unpublished. `ecosystem=zig` reads a Zig package.
    #[oai(
        path = "/versions/:pkg/last-week",
        method = "get",
        operation_id = "versionDownloadsLastWeek"
    )]
    async fn version_downloads_last_week(
        &self,
        reader: ApiReader,
        pkg: Path<String>,
        /// `npm` (the default) or `zig`.
        #[oai(validator(pattern = "^(npm|zig)$"))]
        ecosystem: Query<Option<String>>,
    ) -> VersionsResponse {
        let eco = match Ecosystem::parse(ecosystem.0.as_deref()) {
            Ok(e) => e,
            Err(e) => return ApiError::from(e).into(),
        };
        let (versions, counts) = match tokio::try_join!(
            package_versions(&self.core, &reader.0, eco, &pkg),
            package_counts(&self.core, &reader.0, eco, &pkg)
        ) {
            Ok((Some(v), Some(c))) => (v, c),
            Ok(_) => return not_found(&pkg).into(),
            Err(e) => return ApiError::from(e).into(),
        };
        let week = Period::last_days(7, OffsetDateTime::now_utc().date());
        let mut downloads: BTreeMap<String, u64> = versions.into_iter().map(|v| (v, 0)).collect();
        for c in counts.iter().filter(|c| week.contains(&c.day)) {
            *downloads.entry(c.version.clone()).or_default() += c.count;
        }
        VersionsResponse::Ok(Json(VersionDownloads {
            package: pkg.0,
            downloads,
        }))
    }
}
