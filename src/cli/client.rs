//! A small HTTP client of a running ragway, for the operator commands (`ingest`, `jobs`,
//! `reindex`): where the server is, which token and project to act as.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// Where the server is and who to act as; shared by the operator commands.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "RAGWAY_URL")]
    pub url: String,
    /// A PAT or service key; default: RAGWAY_TOKEN, else `<data_dir>/dev-token`.
    #[arg(long, env = "RAGWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// X-PROJECT-ID, when the token needs one.
    #[arg(long)]
    pub project: Option<String>,
}

impl Client {
    /// A client for `args`, the token falling back to the dev token in `data_dir`.
    pub fn new(args: &ServerArgs, data_dir: &Path) -> anyhow::Result<Client> {
        let token = match args.token.clone() {
            Some(t) => t,
            None => std::fs::read_to_string(data_dir.join("dev-token"))
                .map(|t| t.trim().to_owned())
                .context("no --token, RAGWAY_TOKEN or dev-token in the data dir")?,
        };
        Ok(Client {
            http: reqwest::Client::new(),
            base: args.url.trim_end_matches('/').to_owned(),
            token,
            project: args.project.clone(),
        })
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub project: Option<String>,
}

impl Client {
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(p) = &self.project {
            r = r.header("X-PROJECT-ID", p);
        }
        r
    }

    pub async fn json(&self, r: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let res = r
            .send()
            .await
            .with_context(|| format!("cannot reach ragway at {}", self.base))?;
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }
}

pub fn error_text(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or("unexpected answer")
        .to_owned()
}
