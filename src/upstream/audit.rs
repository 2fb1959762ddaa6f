//! The upstream's bulk advisory endpoint, for npm's audits, asked with the fallback's own client
//! (same redirect rule, same token, same timeouts as every other upstream request).

use serde_json::Value;

use super::Upstream;
use crate::config::NpmSettings;

impl Upstream {
    /// The upstream's audit report for `body` (`{"pkg": ["1.0.0", …]}`); `None` when the
    /// fallback is off or offline, when the upstream fails, or when it answers something other
    /// than a JSON object.
    pub async fn advisories_bulk(&self, npm: &NpmSettings, body: &Value) -> Option<Value> {
        if !npm.fallback || npm.offline {
            return None;
        }
        let url = format!("{}-/npm/v1/security/advisories/bulk", npm.upstream);
        let mut request = self
            .client
            .post(url)
            .timeout(npm.upstream_timeout)
            .json(body);
        if let Some(token) = &npm.upstream_token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) if v.is_object() => Some(v),
                Ok(_) | Err(_) => {
                    tracing::warn!("upstream audit answered something that is not a JSON object");
                    None
                }
            },
            Ok(r) => {
                tracing::warn!(http.status = r.status().as_u16(), "upstream audit failed");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "upstream audit unreachable");
                None
            }
        }
    }
}
