//! Who may read what (`access.*`): the rule for packages published here, the names only
//! signed-in callers may read wherever they come from, and the rule for upstream packages read
//! through the npm fallback. Every read use case asks here, for both ecosystems and every door,
//! so a package a caller may not read is neither served nor listed anywhere.
//!
//! The decision is made before the expensive part: a name matching `access.authenticated` is
//! refused to an anonymous caller before it is looked up (so the answer is the same whether it
//! exists or not) and before the upstream is asked (so a CI job that forgot its token never
//! installs a public package of a private name). Reading needs any valid token; read scope is
//! enough, and a token's package restriction limits what it may publish, not what it may read.
//!
//! A [`Reader`] carries the token a request presented and checks it only when a rule asks for a
//! signed-in caller, so public reads cost nothing extra.

use crate::config::{AccessSettings, ReadRule};
use crate::core::Core;
use crate::core::auth::{self, AuthError, Caller};
use crate::store::StoreError;

/// A `*` pattern over package names (`@team/*`, `internal-*`), or one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    pub fn new(pattern: &str) -> NamePattern {
        NamePattern(pattern.to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` (compared lower-cased) matches: `*` stands for any run of characters.
    pub fn matches(&self, name: &str) -> bool {
        glob_matches(self.0.as_bytes(), name.to_ascii_lowercase().as_bytes())
    }
}

fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            resume = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, at)) = resume {
            p = star + 1;
            t = at + 1;
            resume = Some((star, at + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Why a read was refused. The door answers 401 with the message.
#[derive(Debug, thiserror::Error)]
pub enum ReadRefused {
    #[error("{0}")]
    SignInRequired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a presented token did not make its caller signed in.
#[derive(Debug, Clone)]
enum Refusal {
    Anonymous,
    Token(String),
}

/// The caller of a read: anonymous, signed in, or holding a token not checked yet.
pub struct Reader {
    token: Option<String>,
    checked: tokio::sync::OnceCell<Result<Caller, Refusal>>,
}

impl std::fmt::Debug for Reader {
    // The token is a secret: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("checked", &self.checked.get().map(|r| r.is_ok()))
            .finish()
    }
}

impl Reader {
    /// A caller who presented no token.
    pub fn anonymous() -> Reader {
        Reader {
            token: None,
            checked: tokio::sync::OnceCell::new_with(Some(Err(Refusal::Anonymous))),
        }
    }

    /// A caller the door authenticated already.
    pub fn signed_in(caller: Caller) -> Reader {
        Reader {
            token: None,
            checked: tokio::sync::OnceCell::new_with(Some(Ok(caller))),
        }
    }

    /// A caller who presented `token`, checked if and when a rule needs it.
    pub fn with_token(token: String) -> Reader {
        Reader {
            token: Some(token),
            checked: tokio::sync::OnceCell::new(),
        }
    }

    /// The signed-in caller, checking the token the first time.
    async fn caller(&self, core: &Core) -> Result<&Caller, ReadError> {
        let checked = self
            .checked
            .get_or_try_init(|| async {
                let token = self.token.as_deref().unwrap_or_default();
                match auth::authenticate(core, token).await {
                    Ok(caller) => Ok(Ok(caller)),
                    Err(AuthError::Store(e)) => Err(e),
                    Err(e) => Ok(Err(Refusal::Token(e.to_string()))),
                }
            })
            .await?;
        checked.as_ref().map_err(|r| ReadError::Refused(r.clone()))
    }

    /// Whether the caller is signed in (a token that does not check out is not).
    pub async fn is_signed_in(&self, core: &Core) -> Result<bool, StoreError> {
        match self.caller(core).await {
            Ok(_) => Ok(true),
            Err(ReadError::Refused(_)) => Ok(false),
            Err(ReadError::Store(e)) => Err(e),
        }
    }
}

enum ReadError {
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Store(e)
    }
}

/// Names a search or a ranking leaves out for a caller: whatever matches `names`, and, when
/// set, everything published here or everything from the upstream.
#[derive(Debug, Clone, Default)]
pub struct Hidden {
    pub names: Vec<NamePattern>,
    pub local: bool,
    pub upstream: bool,
}

impl Hidden {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && !self.local && !self.upstream
    }

    /// Whether a listing shows `name`, published here (`local`) or from the upstream.
    pub fn shows(&self, name: &str, local: bool) -> bool {
        !(self.names.iter().any(|p| p.matches(name))
            || (local && self.local)
            || (!local && self.upstream))
    }

    /// The same, as the search index leaves documents out.
    pub fn for_search(&self) -> crate::search::Excluded {
        use crate::search::Origin;
        let mut origins = Vec::new();
        if self.local {
            origins.push(Origin::Local);
        }
        if self.upstream {
            origins.push(Origin::Cached);
        }
        crate::search::Excluded {
            name_patterns: self.names.iter().map(|p| p.as_str().to_string()).collect(),
            origins,
        }
    }
}

/// The `access.*` settings, ready to decide.
#[derive(Debug, Clone)]
pub struct ReadPolicy {
    local: ReadRule,
    protected: Vec<NamePattern>,
    upstream: ReadRule,
    /// Whether names not published here are looked up upstream at all.
    fallback: bool,
}

impl ReadPolicy {
    pub fn new(settings: &AccessSettings, fallback: bool) -> ReadPolicy {
        ReadPolicy {
            local: settings.read,
            protected: settings
                .authenticated
                .iter()
                .map(|p| NamePattern::new(p))
                .collect(),
            upstream: settings.upstream_read,
            fallback,
        }
    }

    /// Whether every package is public: nothing to check, nothing to hide.
    pub fn is_open(&self) -> bool {
        self.local == ReadRule::Public
            && self.protected.is_empty()
            && (self.upstream == ReadRule::Public || !self.fallback)
    }

    fn protects(&self, name: &str) -> Option<&NamePattern> {
        self.protected.iter().find(|p| p.matches(name))
    }

    async fn require(
        &self,
        core: &Core,
        reader: &Reader,
        name: &str,
        why: &str,
    ) -> Result<(), ReadRefused> {
        match reader.caller(core).await {
            Ok(_) => Ok(()),
            Err(ReadError::Store(e)) => Err(e.into()),
            Err(ReadError::Refused(Refusal::Anonymous)) => {
                Err(ReadRefused::SignInRequired(format!(
                    "authorization required to access package {name}: {why}; send a token of this registry (read scope is enough)"
                )))
            }
            Err(ReadError::Refused(Refusal::Token(reason))) => {
                Err(ReadRefused::SignInRequired(format!(
                    "authorization required to access package {name}: {why}, and the token sent was refused ({reason})"
                )))
            }
        }
    }

    /// Requires a signed-in caller when `name` matches `access.authenticated`, or else when
    /// `otherwise` gives a reason.
    async fn check(
        &self,
        core: &Core,
        reader: &Reader,
        name: &str,
        otherwise: Option<&str>,
    ) -> Result<(), ReadRefused> {
        let why = match (self.protects(name), otherwise) {
            (Some(pattern), _) => format!("packages matching {} are private", pattern.as_str()),
            (None, Some(why)) => why.to_string(),
            (None, None) => return Ok(()),
        };
        self.require(core, reader, name, &why).await
    }

    /// Before an npm name is looked up anywhere: a name matching `access.authenticated`
    /// needs a signed-in caller, and so does every name when neither the packages published
    /// here nor the upstream's are public.
    pub async fn before_npm_lookup(
        &self,
        core: &Core,
        reader: &Reader,
        name: &str,
    ) -> Result<(), ReadRefused> {
        let upstream_closed = !self.fallback || self.upstream == ReadRule::Authenticated;
        let closed = self.local == ReadRule::Authenticated && upstream_closed;
        self.check(
            core,
            reader,
            name,
            closed.then_some("this registry is private"),
        )
        .await
    }

    /// A package published here (npm or Zig), before or after it is looked up.
    pub async fn local(&self, core: &Core, reader: &Reader, name: &str) -> Result<(), ReadRefused> {
        let closed = self.local == ReadRule::Authenticated;
        let why = "this registry's packages are private";
        self.check(core, reader, name, closed.then_some(why)).await
    }

    /// An npm name not published here, before the upstream is asked for it.
    pub async fn upstream(
        &self,
        core: &Core,
        reader: &Reader,
        name: &str,
    ) -> Result<(), ReadRefused> {
        let closed = self.upstream == ReadRule::Authenticated;
        let why = "upstream packages are read through this registry by signed-in callers only";
        self.check(core, reader, name, closed.then_some(why)).await
    }

    /// A kept rendering of `name`, published here (`local`) or from the upstream: the rules
    /// that would have applied when it was read.
    pub async fn rendered(
        &self,
        core: &Core,
        reader: &Reader,
        name: &str,
        local: bool,
    ) -> Result<(), ReadRefused> {
        self.before_npm_lookup(core, reader, name).await?;
        if local {
            self.local(core, reader, name).await
        } else {
            self.upstream(core, reader, name).await
        }
    }

    /// What listings (search, rankings) leave out for `reader`.
    pub async fn hidden(&self, core: &Core, reader: &Reader) -> Result<Hidden, StoreError> {
        if self.is_open() || reader.is_signed_in(core).await? {
            return Ok(Hidden::default());
        }
        Ok(Hidden {
            names: self.protected.clone(),
            local: self.local == ReadRule::Authenticated,
            upstream: self.upstream == ReadRule::Authenticated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = NamePattern::new("@team/*");
        assert!(p.matches("@team/a"));
        assert!(p.matches("@Team/A"));
        assert!(!p.matches("@teams/a"));
        assert!(!p.matches("team"));
        let p = NamePattern::new("internal-*-kit");
        assert!(p.matches("internal-ui-kit"));
        assert!(p.matches("internal--kit"));
        assert!(!p.matches("internal-ui-kits"));
        assert!(NamePattern::new("*").matches("anything"));
        assert!(NamePattern::new("left-pad").matches("left-pad"));
        assert!(!NamePattern::new("left-pad").matches("left-pads"));
        assert!(NamePattern::new("a*b*c").matches("aXbYbc"));
        assert!(!NamePattern::new("a*b*c").matches("aXbYbcd"));
    }

    #[test]
    fn hidden_listings() {
        let hidden = Hidden {
            names: vec![NamePattern::new("@team/*")],
            local: false,
            upstream: true,
        };
        assert!(!hidden.shows("@team/x", true));
        assert!(hidden.shows("left-pad", true));
        assert!(!hidden.shows("left-pad", false));
    }
}
