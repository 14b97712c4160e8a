//! `ragway jobs list|show|cancel` and `ragway reindex --kb … [--wait]`: operator commands
//! that talk to a running ragway over its HTTP API.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::client::{error_text, Client, ServerArgs};

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// The project's jobs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        kb: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print the JSON the server returned.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// One job, as JSON.
    Show {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Cancel a queued or running job (the knowledge base keeps its live generation).
    Cancel {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct ReindexArgs {
    /// The knowledge base to rebuild.
    #[arg(long)]
    pub kb: String,
    /// Switch to this embedding model (one of the server's `embedding.models`).
    #[arg(long)]
    pub embedding_model: Option<String>,
    /// New chunk size in tokens.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// New chunk overlap in tokens.
    #[arg(long)]
    pub overlap_tokens: Option<usize>,
    /// Markdown-aware splitting on or off.
    #[arg(long)]
    pub markdown: Option<bool>,
    /// Follow the job with a progress bar until it ends; exit non-zero unless it succeeds.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn jobs(cmd: JobsCommand, data_dir: &Path) -> anyhow::Result<()> {
    match cmd {
        JobsCommand::List {
            status,
            kind,
            kb,
            limit,
            json,
            server,
        } => {
            let mut path = format!("/v1/jobs?limit={limit}");
            for (k, v) in [("status", status), ("kind", kind), ("kb_id", kb)] {
                if let Some(v) = v {
                    path.push_str(&format!("&{k}={v}"));
                }
            }
            let body = call(&server, data_dir, Method::GET, &path).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print_table(&body);
            }
        }
        JobsCommand::Show { id, server } => {
            let body = call(&server, data_dir, Method::GET, &format!("/v1/jobs/{id}")).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
        JobsCommand::Cancel { id, server } => {
            let path = format!("/v1/jobs/{id}/cancel");
            let body = call(&server, data_dir, Method::POST, &path).await?;
            println!("job {id}: {}", body["status"].as_str().unwrap_or("?"));
        }
    }
    Ok(())
}

/// One call that must answer 200; its body.
async fn call(
    server: &ServerArgs,
    data_dir: &Path,
    method: Method,
    path: &str,
) -> anyhow::Result<Value> {
    let client = Client::new(server, data_dir)?;
    let (s, body) = client.json(client.req(method, path)).await?;
    if s != 200 {
        bail!("{}", error_text(&body));
    }
    Ok(body)
}

/// A job list as a table.
fn print_table(body: &Value) {
    println!(
        "{:<38} {:<11} {:<20} {:<10} {:>15}  error",
        "id", "kind", "knowledge base", "status", "documents"
    );
    for j in body["data"].as_array().into_iter().flatten() {
        println!(
            "{:<38} {:<11} {:<20} {:<10} {:>15}  {}",
            j["id"].as_str().unwrap_or(""),
            j["kind"].as_str().unwrap_or(""),
            j["kb_id"].as_str().unwrap_or(""),
            j["status"].as_str().unwrap_or(""),
            format!(
                "{}/{}",
                j["progress"]["documents_done"], j["progress"]["documents_total"]
            ),
            j["error"].as_str().unwrap_or("")
        );
    }
}

pub async fn reindex(args: ReindexArgs, data_dir: &Path) -> anyhow::Result<()> {
    let client = Client::new(&args.server, data_dir)?;
    let path = format!("/v1/knowledge_bases/{}/reindex", args.kb);
    let request = client.req(Method::POST, &path).json(&reindex_body(&args));
    let (s, job) = client.json(request).await?;
    if s != 202 {
        bail!("re-index of `{}`: {}", args.kb, error_text(&job));
    }
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    println!(
        "job {id}: re-indexing `{}` into generation {}",
        args.kb, job["target_generation"]
    );
    if !args.wait {
        return Ok(());
    }
    let last = follow(&client, &id, &job).await?;
    match last["status"].as_str() {
        Some("succeeded") => {
            println!(
                "job {id} succeeded: {} documents, {} chunks; `{}` now serves generation {}",
                last["progress"]["documents_done"],
                last["progress"]["chunks"],
                args.kb,
                last["target_generation"]
            );
            Ok(())
        }
        other => bail!(
            "job {id} {}: {}",
            other.unwrap_or("?"),
            last["error"].as_str().unwrap_or("no error recorded")
        ),
    }
}

/// The re-index request: only what the command line sets.
fn reindex_body(args: &ReindexArgs) -> Value {
    let mut req = json!({});
    if let Some(m) = &args.embedding_model {
        req["embedding_model"] = json!(m);
    }
    let mut chunking = serde_json::Map::new();
    if let Some(v) = args.max_tokens {
        chunking.insert("max_tokens".into(), json!(v));
    }
    if let Some(v) = args.overlap_tokens {
        chunking.insert("overlap_tokens".into(), json!(v));
    }
    if let Some(v) = args.markdown {
        chunking.insert("markdown".into(), json!(v));
    }
    if !chunking.is_empty() {
        req["chunking"] = Value::Object(chunking);
    }
    req
}

/// Poll job `id` with a progress bar until it is neither queued nor running; its last state.
async fn follow(client: &Client, id: &str, job: &Value) -> anyhow::Result<Value> {
    let bar = ProgressBar::new(job["progress"]["documents_total"].as_u64().unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} documents  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let (s, j) = client
            .json(client.req(Method::GET, &format!("/v1/jobs/{id}")))
            .await?;
        if s != 200 {
            bail!("following job {id}: {}", error_text(&j));
        }
        bar.set_length(j["progress"]["documents_total"].as_u64().unwrap_or(0));
        bar.set_position(j["progress"]["documents_done"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "{} chunks, {}",
            j["progress"]["chunks"],
            j["status"].as_str().unwrap_or("?")
        ));
        if !matches!(j["status"].as_str(), Some("queued" | "running")) {
            bar.finish();
            return Ok(j);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
