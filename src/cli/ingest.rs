//! `ragway ingest <paths…> --kb <id>`: send a folder's documents to a running ragway. Files
//! whose content hash the server already has (as a ready document with the same external id,
//! the path relative to the argument) are not sent again, so re-running on an unchanged
//! folder does no work. Shows progress while the server processes them, then a summary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::client::{error_text, Client};
use reqwest::multipart::{Form, Part};

/// File kinds the server parses; others are counted and skipped.
const EXTENSIONS: [&str; 9] = [
    "txt", "md", "markdown", "html", "htm", "pdf", "docx", "json", "jsonl",
];

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Files or directories (walked recursively; hidden entries skipped).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The knowledge base to fill.
    #[arg(long)]
    pub kb: String,
    /// Create the knowledge base when it does not exist.
    #[arg(long)]
    pub create: bool,
    #[command(flatten)]
    pub server: crate::cli::client::ServerArgs,
    /// Return once the files are sent, without waiting for processing.
    #[arg(long)]
    pub no_wait: bool,
}

/// Every supported file under `paths`, with its external id (path relative to its argument).
fn collect(paths: &[PathBuf]) -> anyhow::Result<(Vec<(String, PathBuf)>, usize)> {
    let mut files = Vec::new();
    let mut unsupported = 0;
    for root in paths {
        let meta = std::fs::metadata(root)
            .with_context(|| format!("{} does not exist", root.display()))?;
        if meta.is_file() {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, root.clone()));
            continue;
        }
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
            {
                let entry = entry?;
                let path = entry.path();
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    let ext = path
                        .extension()
                        .map(|e| e.to_string_lossy().to_lowercase())
                        .unwrap_or_default();
                    if EXTENSIONS.contains(&ext.as_str()) {
                        let rel = path
                            .strip_prefix(root)
                            .unwrap_or(&path)
                            .to_string_lossy()
                            .into_owned();
                        files.push((rel, path));
                    } else {
                        unsupported += 1;
                    }
                }
            }
        }
    }
    files.sort();
    Ok((files, unsupported))
}

pub async fn run(args: IngestArgs, data_dir: &Path) -> anyhow::Result<()> {
    let client = Client::new(&args.server, data_dir)?;
    let kb_path = format!("/v1/knowledge_bases/{}", args.kb);
    ensure_kb(&client, &args, &kb_path).await?;
    let known = known_documents(&client, &kb_path).await?;
    let (files, unsupported) = collect(&args.paths)?;
    let started = Instant::now();
    let sent = send_files(&client, &kb_path, &files, &known).await?;
    let indexed = if args.no_wait {
        Indexed::default()
    } else {
        wait_for(&client, &kb_path, &sent.ids).await?
    };
    println!(
        "{} files: {} sent, {} unchanged, {} refused, {} failed, {unsupported} unsupported skipped; {} chunks in {:.1}s",
        files.len(),
        sent.ids.len(),
        sent.unchanged,
        sent.refused.len(),
        indexed.failed.len(),
        indexed.chunks,
        started.elapsed().as_secs_f64()
    );
    for line in sent.refused.iter().chain(indexed.failed.iter()) {
        println!("  {line}");
    }
    let not_ingested = sent.refused.len() + indexed.failed.len();
    if not_ingested > 0 {
        bail!("{not_ingested} documents were not ingested");
    }
    Ok(())
}

/// Make sure the knowledge base exists (creating it with `--create`).
async fn ensure_kb(client: &Client, args: &IngestArgs, kb_path: &str) -> anyhow::Result<()> {
    let (status, body) = client
        .json(client.req(reqwest::Method::GET, kb_path))
        .await?;
    match status {
        200 => Ok(()),
        404 if args.create => {
            let create = client
                .req(reqwest::Method::POST, "/v1/knowledge_bases")
                .json(&serde_json::json!({"id": args.kb}));
            let (s, b) = client.json(create).await?;
            if s != 201 {
                bail!("creating knowledge base `{}`: {}", args.kb, error_text(&b));
            }
            Ok(())
        }
        404 => bail!(
            "knowledge base `{}` does not exist (pass --create to make it)",
            args.kb
        ),
        _ => bail!("{}", error_text(&body)),
    }
}

/// What the server already has: external id → (content hash, status).
async fn known_documents(
    client: &Client,
    kb_path: &str,
) -> anyhow::Result<HashMap<String, (String, String)>> {
    let mut known = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("{kb_path}/documents?limit=1000");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (s, b) = client.json(client.req(reqwest::Method::GET, &path)).await?;
        if s != 200 {
            bail!("listing documents: {}", error_text(&b));
        }
        for d in b["data"].as_array().cloned().unwrap_or_default() {
            if let Some(ext) = d["external_id"].as_str() {
                let hash = d["content_hash"].as_str().unwrap_or("").to_owned();
                let status = d["status"].as_str().unwrap_or("").to_owned();
                known.insert(ext.to_owned(), (hash, status));
            }
        }
        match (b["has_more"].as_bool(), b["last_id"].as_str()) {
            (Some(true), Some(last)) => after = Some(last.to_owned()),
            _ => return Ok(known),
        }
    }
}

/// What sending the files did.
#[derive(Default)]
struct Sent {
    /// External ids of the files sent.
    ids: Vec<String>,
    unchanged: usize,
    /// `external id: reason` of the files the server refused.
    refused: Vec<String>,
}

/// Send each file the server does not have at its content (or has as failed).
async fn send_files(
    client: &Client,
    kb_path: &str,
    files: &[(String, PathBuf)],
    known: &HashMap<String, (String, String)>,
) -> anyhow::Result<Sent> {
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "sending  {bar:30} {pos}/{len} files  {per_sec}  eta {eta}  {msg}",
    )?);
    let mut sent = Sent::default();
    for (external_id, path) in files {
        bar.set_message(external_id.clone());
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let hash = ragway_ingest::content_hash(&bytes);
        if known
            .get(external_id)
            .is_some_and(|(h, s)| *h == hash && s != "failed")
        {
            sent.unchanged += 1;
        } else {
            match send_file(client, kb_path, external_id, path, bytes).await? {
                Ok(()) => sent.ids.push(external_id.clone()),
                Err(why) => sent.refused.push(format!("{external_id}: {why}")),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(sent)
}

/// Upload one file under its external id; the server's reason when it refuses.
async fn send_file(
    client: &Client,
    kb_path: &str,
    external_id: &str,
    path: &Path,
    bytes: Vec<u8>,
) -> anyhow::Result<Result<(), String>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let form = Form::new()
        .part("file", Part::bytes(bytes).file_name(name))
        .text("external_id", external_id.to_owned());
    let request = client
        .req(reqwest::Method::POST, &format!("{kb_path}/documents"))
        .multipart(form);
    let (s, b) = client.json(request).await?;
    Ok(if s == 200 || s == 202 {
        Ok(())
    } else {
        Err(error_text(&b))
    })
}

/// What the server made of the documents sent.
#[derive(Default)]
struct Indexed {
    /// `external id: error` of the documents that failed.
    failed: Vec<String>,
    chunks: i64,
}

/// Poll the sent documents until each is ready or failed, with a progress bar.
async fn wait_for(client: &Client, kb_path: &str, ids: &[String]) -> anyhow::Result<Indexed> {
    let mut indexed = Indexed::default();
    if ids.is_empty() {
        return Ok(indexed);
    }
    let bar = ProgressBar::new(ids.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "indexing {bar:30} {pos}/{len} documents  {msg}  eta {eta}",
    )?);
    let started = Instant::now();
    let mut pending: Vec<String> = ids.to_vec();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for ext in pending {
            let path = format!("{kb_path}/documents/{}", urlencode(&ext));
            let (s, d) = client.json(client.req(reqwest::Method::GET, &path)).await?;
            match (s, d["status"].as_str()) {
                (200, Some("ready")) => indexed.chunks += d["chunk_count"].as_i64().unwrap_or(0),
                (200, Some("failed")) => indexed.failed.push(format!(
                    "{ext}: {}",
                    d["error"].as_str().unwrap_or("failed")
                )),
                (200, _) => still.push(ext),
                _ => bail!("checking `{ext}`: {}", error_text(&d)),
            }
        }
        bar.set_position((ids.len() - still.len()) as u64);
        let rate = indexed.chunks as f64 / started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!("{} chunks, {rate:.1} chunks/s", indexed.chunks));
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    bar.finish_and_clear();
    Ok(indexed)
}

/// Percent-encode a path segment (external ids are relative paths and may contain `/`).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
