//! `ragway ingest <paths…> --kb <id>`: send a folder's documents to a running ragway. Files
//! whose content hash the server already has (as a ready document with the same external id,
//! the path relative to the argument) are not sent again, so re-running on an unchanged
//! folder does no work. Shows progress while the server processes them, then a summary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::{error_text, Client};
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
    pub server: crate::client::ServerArgs,
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
    let (status, body) = client
        .json(client.req(reqwest::Method::GET, &kb_path))
        .await?;
    match status {
        200 => {}
        404 if args.create => {
            let (s, b) = client
                .json(
                    client
                        .req(reqwest::Method::POST, "/v1/knowledge_bases")
                        .json(&serde_json::json!({"id": args.kb})),
                )
                .await?;
            if s != 201 {
                bail!("creating knowledge base `{}`: {}", args.kb, error_text(&b));
            }
        }
        404 => bail!(
            "knowledge base `{}` does not exist (pass --create to make it)",
            args.kb
        ),
        _ => bail!("{}", error_text(&body)),
    }

    // What the server already has: external id → (content hash, status).
    let mut known: HashMap<String, (String, String)> = HashMap::new();
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
                known.insert(
                    ext.to_owned(),
                    (hash, d["status"].as_str().unwrap_or("").to_owned()),
                );
            }
        }
        match (b["has_more"].as_bool(), b["last_id"].as_str()) {
            (Some(true), Some(last)) => after = Some(last.to_owned()),
            _ => break,
        }
    }

    let (files, unsupported) = collect(&args.paths)?;
    let started = Instant::now();
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "sending  {bar:30} {pos}/{len} files  {per_sec}  eta {eta}  {msg}",
    )?);
    let (mut sent, mut unchanged, mut refused) = (0usize, 0usize, Vec::new());
    let mut sent_ids = Vec::new();
    for (external_id, path) in &files {
        bar.set_message(external_id.clone());
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let hash = ragway_ingest::content_hash(&bytes);
        if known
            .get(external_id)
            .is_some_and(|(h, s)| *h == hash && s != "failed")
        {
            unchanged += 1;
            bar.inc(1);
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let form = Form::new()
            .part("file", Part::bytes(bytes).file_name(name))
            .text("external_id", external_id.clone());
        let (s, b) = client
            .json(
                client
                    .req(reqwest::Method::POST, &format!("{kb_path}/documents"))
                    .multipart(form),
            )
            .await?;
        if s == 200 || s == 202 {
            sent += 1;
            sent_ids.push(external_id.clone());
        } else {
            refused.push(format!("{external_id}: {}", error_text(&b)));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut failed = Vec::new();
    let mut chunks = 0i64;
    if !args.no_wait && !sent_ids.is_empty() {
        let bar = ProgressBar::new(sent_ids.len() as u64);
        bar.set_style(ProgressStyle::with_template(
            "indexing {bar:30} {pos}/{len} documents  {msg}  eta {eta}",
        )?);
        let wait_started = Instant::now();
        let mut pending: Vec<String> = sent_ids.clone();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for ext in pending {
                let (s, d) = client
                    .json(client.req(
                        reqwest::Method::GET,
                        &format!("{kb_path}/documents/{}", urlencode(&ext)),
                    ))
                    .await?;
                match (s, d["status"].as_str()) {
                    (200, Some("ready")) => {
                        chunks += d["chunk_count"].as_i64().unwrap_or(0);
                        bar.inc(1);
                    }
                    (200, Some("failed")) => {
                        failed.push(format!(
                            "{ext}: {}",
                            d["error"].as_str().unwrap_or("failed")
                        ));
                        bar.inc(1);
                    }
                    (200, _) => still.push(ext),
                    _ => bail!("checking `{ext}`: {}", error_text(&d)),
                }
            }
            let rate = chunks as f64 / wait_started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!("{chunks} chunks, {rate:.1} chunks/s"));
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        bar.finish_and_clear();
    }

    println!(
        "{} files: {sent} sent, {unchanged} unchanged, {} refused, {} failed, {unsupported} unsupported skipped; {chunks} chunks in {:.1}s",
        files.len(),
        refused.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    for line in refused.iter().chain(failed.iter()) {
        println!("  {line}");
    }
    if !refused.is_empty() || !failed.is_empty() {
        bail!(
            "{} documents were not ingested",
            refused.len() + failed.len()
        );
    }
    Ok(())
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
