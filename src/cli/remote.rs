//! The command line's way to a running server: the admin API over the local admin socket in the
//! data directory (no token needed: reaching it takes the data directory's permissions), or over
//! HTTP with `--url` and an admin token.

use serde_json::{Value, json};

/// A running server, reached for administration.
pub struct Server {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    /// How the server is named in messages.
    pub shown: String,
}

/// How long one admin request may take (a job is polled, not waited for).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Server {
    /// The server listening on the admin socket `path`, if one answers there.
    pub async fn socket(path: &std::path::Path) -> Option<Server> {
        let client = reqwest::Client::builder()
            .unix_socket(path)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .ok()?;
        let server = Server {
            client,
            base: "http://localhost".into(),
            token: None,
            shown: format!("the running server (admin socket {})", path.display()),
        };
        let alive = server
            .client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        alive.then_some(server)
    }

    /// The server at `url`, with an admin `token`.
    pub fn http(url: &str, token: String) -> Result<Server, String> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Server {
            client,
            base: url.trim_end_matches('/').to_string(),
            token: Some(token),
            shown: format!("the server at {}", url.trim_end_matches('/')),
        })
    }

    /// Sends an admin request; the JSON answer, or the server's error message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.shown))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} answered {status}", self.shown));
        Err(message)
    }

    /// Starts a GET whose body may take long to stream (a backup): no overall timeout, the
    /// caller waits for each piece with its own. The response, once its status is a success.
    pub async fn stream(&self, path: &str) -> Result<reqwest::Response, String> {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .timeout(std::time::Duration::from_secs(7 * 24 * 3600));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.shown))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        Err(value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} answered {status}", self.shown)))
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Starts a job and waits for it, telling `progress` each new line of its progress; its
    /// result.
    pub async fn run_job(&self, body: Value, progress: &dyn Fn(&str)) -> Result<Value, String> {
        let job = self.post("/-/admin/jobs", body).await?;
        let id = job["id"].as_str().unwrap_or_default().to_string();
        let mut told = String::new();
        loop {
            let job = self.get(&format!("/-/admin/jobs/{id}")).await?;
            let line = job["progress"].as_str().unwrap_or_default().to_string();
            if line != told {
                progress(&format!("job {id}: {line}"));
                told = line;
            }
            match job["state"].as_str() {
                Some("done") => return Ok(job["result"].clone()),
                Some("failed") => {
                    return Err(job["error"]
                        .as_str()
                        .unwrap_or("the job failed")
                        .to_string());
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }
}

/// The query string of `pairs` whose values are present (`?a=1&b=2`, or nothing).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").expect("a valid URL");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    match url.query() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

/// A token's row for `token list`, from the admin API's token object.
pub fn token_row(v: &Value) -> [String; 7] {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    [
        s("id"),
        s("user"),
        s("name"),
        s("scope"),
        v["restriction"].as_str().unwrap_or("*").to_string(),
        v["expiresAt"].as_str().unwrap_or("never").to_string(),
        v["lastUsed"].as_str().unwrap_or("never").to_string(),
    ]
}

/// The JSON body of a new token.
pub fn token_body(
    user: &str,
    name: &str,
    scope: &str,
    package: Option<&str>,
    expires_in_days: Option<i64>,
    service: bool,
) -> Value {
    json!({
        "user": user, "name": name, "scope": scope, "package": package,
        "expiresInDays": expires_in_days, "service": service,
    })
}
