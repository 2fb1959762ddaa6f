//! The seed's search shape, `{"results":[...]}`, for `GET /search` (npm-namespace packages)
//! and `GET /zig/search` (Zig packages), both answered by the search index.

use std::sync::Arc;

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::api_error_variants;
use crate::core::Core;
use crate::core::access::Reader;
use crate::error::{ApiError, ErrorBody};
use crate::search::{Ecosystem, SearchError, SearchPage, SearchRequest};

#[derive(Debug, Object)]
#[oai(example)]
pub struct SearchHitBody {
    pub name: String,
    /// The `latest` version.
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    pub author: Option<String>,
    /// Downloads in the last 30 days.
    pub downloads: u64,
    /// The latest version's deprecation message.
    #[oai(skip_serializing_if_is_none)]
    pub deprecated: Option<String>,
    /// `local` (published here) or `cached` (an upstream npm package fetched through here).
    pub origin: String,
}

impl Example for SearchHitBody {
    fn example() -> Self {
        SearchHitBody {
            name: "left-pad".into(),
            version: "1.3.0".into(),
            description: "String left pad".into(),
            keywords: vec!["leftpad".into(), "left".into(), "pad".into()],
            author: Some("azer".into()),
            downloads: 1_284,
            deprecated: None,
            origin: "local".into(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct SearchResults {
    /// Best match first.
    pub results: Vec<SearchHitBody>,
    /// How many packages matched in all (for paging with `from`).
    pub total: u64,
}

impl Example for SearchResults {
    fn example() -> Self {
        SearchResults {
            results: vec![SearchHitBody::example()],
            total: 1,
        }
    }
}

#[derive(ApiResponse)]
pub enum SearchResponse {
    #[oai(status = 200)]
    Ok(Json<SearchResults>),
    /// The query is longer than `search.max_query_length`, or `limit`/`from` is not a number
    /// (or pages past the first 10,000 results).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(SearchResponse {
    BadRequest,
    Internal
});

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::QueryTooLong(_) => ApiError::bad_request(e.to_string()),
            SearchError::Index(_) => ApiError::internal(e),
        }
    }
}

/// Runs a search from URL parameters: `from` and `size` validated, errors as API errors, and
/// what `reader` may not read left out.
pub async fn search(
    core: &Core,
    reader: &Reader,
    text: String,
    ecosystem: Ecosystem,
    from: Option<&str>,
    size: Option<&str>,
    size_param: &str,
) -> Result<SearchPage, ApiError> {
    let mut request = SearchRequest::new(text, ecosystem, from, size, size_param)
        .map_err(ApiError::bad_request)?;
    request.excluded = core.access.hidden(core, reader).await?.for_search();
    Ok(core.search.search(request).await?)
}

/// The seed's shape of a page of results.
pub async fn seed_search(
    core: &Core,
    reader: &Reader,
    ecosystem: Ecosystem,
    q: Option<String>,
    limit: Option<String>,
    from: Option<String>,
) -> SearchResponse {
    let page = match search(
        core,
        reader,
        q.unwrap_or_default(),
        ecosystem,
        from.as_deref(),
        limit.as_deref(),
        "limit",
    )
    .await
    {
        Ok(page) => page,
        Err(e) => return e.into(),
    };
    SearchResponse::Ok(Json(SearchResults {
        total: page.total as u64,
        results: page
            .hits
            .into_iter()
            .map(|hit| SearchHitBody {
                name: hit.doc.name,
                version: hit.doc.version,
                description: hit.doc.description,
                keywords: hit.doc.keywords,
                author: hit.doc.author,
                downloads: hit.doc.downloads_30d,
                deprecated: hit.doc.deprecated,
                origin: hit.doc.origin.as_str().to_string(),
            })
            .collect(),
    }))
}

pub struct SearchApi {
    pub core: Arc<Core>,
}

#[OpenApi(tag = "ApiTags::Packages")]
impl SearchApi {
    /// Search packages
    ///
    /// Searches npm-namespace packages: those published here and upstream packages fetched
    /// through this registry. Ranking: the exact name first, then names starting with the
    /// query, then relevance over name, keywords, description and readme (tolerating a typo or
    /// two in names), then downloads in the last 30 days. Qualifiers as on npmjs:
    /// `keywords:a,b`, `author:`, `maintainer:`, `scope:`, `is:deprecated`, `not:deprecated`,
    /// plus `is:local` and `is:cached`. An empty `q` lists every package, most downloaded first.
    /// Packages the caller may not read (`access.*`) are left out.
    #[oai(path = "/search", method = "get", operation_id = "searchPackages")]
    async fn search_packages(
        &self,
        reader: super::auth::ApiReader,
        /// The query; empty matches everything.
        q: Query<Option<String>>,
        /// Results per page: 20 unless given, at most 250.
        #[oai(validator(pattern = "^[0-9]+$"))]
        limit: Query<Option<String>>,
        /// Results to skip, for paging.
        #[oai(validator(pattern = "^[0-9]+$"))]
        from: Query<Option<String>>,
    ) -> SearchResponse {
        seed_search(&self.core, &reader.0, Ecosystem::Npm, q.0, limit.0, from.0).await
    }
}
