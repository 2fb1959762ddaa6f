//! Rate limits per client address: token buckets per request class. The key is the address,
//! never a token the request merely carries: a bucket per unchecked bearer string would let one
//! client make itself a fresh bucket per request. Behind a reverse proxy listed in
//! `server.trusted_proxies`, the address is the client's as the proxy forwards it.
//!
//! Over the limit, a request is answered 429 with `Retry-After` before any work is done. The
//! counters are kept by a [`RateStore`]: in this process for a single server, in the shared
//! store when several instances serve together. If the counters cannot be reached, requests
//! pass (a limit must not take the registry down with it) and the failure is logged.

use std::net::IpAddr;
use std::sync::Arc;

use poem::http::Method;

use crate::config::RateSettings;
use crate::store::RateStore;

/// What a request is, for rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Login,
    Token,
    Publish,
    Read,
}

impl Class {
    /// The class of `method path`. The path is read as the routes read it: percent-decoded,
    /// with runs of `/` as one, so `/npm//-/user/org.couchdb.user%3Aalice` is still a login.
    pub fn of(method: &Method, path: &str) -> Self {
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        let mut path = String::with_capacity(decoded.len());
        for c in decoded.chars() {
            if !(c == '/' && path.ends_with('/')) {
                path.push(c);
            }
        }
        let path = path.as_str();
        if let Some(npm) = path.strip_prefix("/npm") {
            if npm.starts_with("/-/user/org.couchdb.user:") && method != Method::GET
                || npm.starts_with("/-/v1/login")
            {
                return Class::Login;
            }
            if npm.starts_with("/-/npm/v1/tokens") || npm.starts_with("/-/user/token/") {
                return Class::Token;
            }
            let write = [Method::PUT, Method::DELETE, Method::POST].contains(method);
            // Audits and the Pantry CLI's resolve and batch download are POSTs that read.
            let reads =
                npm.starts_with("/-/npm/v1/security/") || npm == "/resolve" || npm == "/download";
            if write && !reads {
                return Class::Publish;
            }
            return Class::Read;
        }
        if method == Method::POST && (path == "/publish" || path == "/zig/publish") {
            return Class::Publish;
        }
        Class::Read
    }

    fn name(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::Token => "token",
            Class::Publish => "write",
            Class::Read => "read",
        }
    }
}

/// Refused: how long until the client may try again.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "Too many {class} requests: at most {per_minute} a minute from one client; retry in {retry_after} s"
)]
pub struct Limited {
    pub class: &'static str,
    pub per_minute: u32,
    pub retry_after: u64,
}

/// The limits, and the counters they are checked against.
pub struct RateLimiter {
    settings: RateSettings,
    counters: Arc<dyn RateStore>,
    /// The store every instance shares, for every class but reads.
    shared: Option<Arc<dyn RateStore>>,
}

impl RateLimiter {
    pub fn new(
        settings: RateSettings,
        counters: Arc<dyn RateStore>,
        shared: Option<Arc<dyn RateStore>>,
    ) -> Self {
        Self {
            settings,
            counters,
            shared,
        }
    }

    fn per_minute(&self, class: Class) -> u32 {
        match class {
            Class::Login => self.settings.login_per_minute,
            Class::Token => self.settings.token_per_minute,
            Class::Publish => self.settings.publish_per_minute,
            Class::Read => self.settings.read_per_minute,
        }
    }

    /// Takes one request from the client's bucket for `class`, or says when to come back.
    pub async fn check(&self, class: Class, addr: Option<IpAddr>) -> Result<(), Limited> {
        let per_minute = self.per_minute(class);
        if per_minute == 0 || addr.is_some_and(|a| self.settings.exempt.contains(&a)) {
            return Ok(());
        }
        let key = format!(
            "{}:{}",
            class.name(),
            addr.map(|a| a.to_string()).unwrap_or_default()
        );
        let counters = match (&self.shared, class) {
            (Some(shared), Class::Login | Class::Token | Class::Publish) => shared,
            _ => &self.counters,
        };
        match counters.take(&key, per_minute).await {
            Ok(None) => Ok(()),
            Ok(Some(retry_after)) => Err(Limited {
                class: class.name(),
                per_minute,
                retry_after,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "rate counters unavailable; letting the request pass");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, exempt: Vec<IpAddr>) -> RateLimiter {
        RateLimiter::new(
            RateSettings {
                login_per_minute: per_minute,
                token_per_minute: per_minute,
                publish_per_minute: per_minute,
                read_per_minute: 0,
                exempt,
            },
            Arc::new(crate::store::rates::MemoryRates::default()),
            None,
        )
    }

    #[test]
    fn requests_are_classed_by_route() {
        let c = |m: Method, p: &str| Class::of(&m, p);
        assert_eq!(
            c(Method::PUT, "/npm/-/user/org.couchdb.user:alice"),
            Class::Login
        );
        assert_eq!(
            c(Method::GET, "/npm/-/user/org.couchdb.user:alice"),
            Class::Read
        );
        assert_eq!(c(Method::POST, "/npm/-/npm/v1/tokens"), Class::Token);
        assert_eq!(c(Method::DELETE, "/npm/-/user/token/x"), Class::Token);
        assert_eq!(c(Method::PUT, "/npm/left-pad"), Class::Publish);
        assert_eq!(c(Method::POST, "/publish"), Class::Publish);
        assert_eq!(c(Method::POST, "/zig/publish"), Class::Publish);
        assert_eq!(
            c(Method::POST, "/npm/-/npm/v1/security/advisories/bulk"),
            Class::Read
        );
        assert_eq!(c(Method::GET, "/npm/left-pad"), Class::Read);
    }

    #[tokio::test]
    async fn a_burst_is_allowed_then_refused_with_a_retry_time_per_address() {
        let l = limiter(3, vec!["10.0.0.9".parse().unwrap()]);
        let a = Some("10.0.0.1".parse().unwrap());
        for _ in 0..3 {
            l.check(Class::Publish, a).await.unwrap();
        }
        let refused = l.check(Class::Publish, a).await.unwrap_err();
        assert_eq!(
            refused.retry_after, 20,
            "one request every 20 s at 3 a minute"
        );
        // Another address is another client; another class has its own bucket.
        l.check(Class::Publish, Some("10.0.0.2".parse().unwrap()))
            .await
            .unwrap();
        l.check(Class::Login, a).await.unwrap();
        // Exempt addresses and unlimited classes pass.
        for _ in 0..10 {
            l.check(Class::Publish, Some("10.0.0.9".parse().unwrap()))
                .await
                .unwrap();
            l.check(Class::Read, a).await.unwrap();
        }
    }

    #[test]
    fn encoded_and_doubled_paths_are_classed_as_the_routes_read_them() {
        let c = |m: Method, p: &str| Class::of(&m, p);
        assert_eq!(
            c(Method::PUT, "/npm/-/user/org.couchdb.user%3Aalice"),
            Class::Login
        );
        assert_eq!(
            c(Method::PUT, "/npm//-/user/org.couchdb.user:alice"),
            Class::Login
        );
        assert_eq!(c(Method::POST, "//publish"), Class::Publish);
    }
}
