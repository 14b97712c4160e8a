//! What one inference costs by model layout: a lone query's latency, batched queries' rate
//! and chunks' rate, for each `INSTANCESxINTRA` layout given (default `1x1 1x2 2x1`). Prints
//! one line per layout; with `--json`, one JSON object per line.
//! Usage: cargo run --release -p ragway-ingest --example embed_cost -- DATA_DIR [1x2 …] [--json]
use std::path::PathBuf;
use std::time::Instant;

use ragway_ingest::{Embedder, EmbedderConfig};

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(
        args.next()
            .expect("usage: embed_cost DATA_DIR [NxT …] [--json]"),
    );
    let rest: Vec<String> = args.collect();
    let json = rest.iter().any(|a| a == "--json");
    let mut layouts: Vec<(usize, usize)> = rest
        .iter()
        .filter_map(|a| a.split_once('x'))
        .map(|(n, t)| (n.parse().expect("instances"), t.parse().expect("intra")))
        .collect();
    if layouts.is_empty() {
        layouts = vec![(1, 1), (1, 2), (2, 1)];
    }
    const WORDS: [&str; 12] = [
        "protein", "pathway", "tumor", "growth", "mice", "insulin", "receptor", "immune",
        "response", "clinical", "trial", "dose",
    ];
    let query = |i: usize| {
        format!(
            "Which {} {} drives {} in {} case {i}?",
            WORDS[i % 12],
            WORDS[(i / 12) % 12],
            WORDS[(i / 144) % 12],
            WORDS[(i + 5) % 12]
        )
    };
    let chunk = |i: usize| {
        (0..190)
            .map(|j| WORDS[(i * 7 + j * 5) % 12])
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (instances, intra) in layouts {
        let mut cfg = EmbedderConfig::from_data_dir(&data);
        cfg.threads = instances;
        cfg.intra_threads = intra;
        cfg.query_cache = 0;
        let embedder = Embedder::load(cfg).expect("load the embedder");
        embedder.embed_blocking(&[query(0)]).unwrap();
        let lone: Vec<f64> = (1..201)
            .map(|i| {
                let t = Instant::now();
                embedder.embed_blocking(&[query(i)]).unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let lone = p50(lone);
        let mut lone_async = Vec::new();
        for i in 300..500 {
            let t = Instant::now();
            embedder.embed_query(&query(i)).await.unwrap();
            lone_async.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let lone_async = p50(lone_async);
        let queries: Vec<String> = (1000..1512).map(query).collect();
        let t = Instant::now();
        embedder.embed(queries.clone()).await.unwrap();
        let batched = queries.len() as f64 / t.elapsed().as_secs_f64();
        // The serving path: 512 concurrent callers of embed_query.
        let t = Instant::now();
        let tasks: Vec<_> = (2000..2512)
            .map(|i| {
                let (e, q) = (embedder.clone(), query(i));
                tokio::spawn(async move { e.embed_query(&q).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let micro = 512.0 / t.elapsed().as_secs_f64();
        let chunks: Vec<String> = (0..64).map(chunk).collect();
        let t = Instant::now();
        embedder.embed(chunks.clone()).await.unwrap();
        let chunk_rate = chunks.len() as f64 / t.elapsed().as_secs_f64();
        if json {
            println!(
                "{{\"instances\":{instances},\"intra_threads\":{intra},\"lone_query_p50_ms\":{lone:.2},\"lone_embed_query_p50_ms\":{lone_async:.2},\"batched_queries_per_s\":{batched:.1},\"concurrent_queries_per_s\":{micro:.1},\"chunks_per_s\":{chunk_rate:.2}}}"
            );
        } else {
            println!(
                "{instances} x {intra}: lone query p50 {lone:.2} ms (embed_query {lone_async:.2} ms) | 512 queries in one call {batched:.0}/s | 512 concurrent embed_query {micro:.0}/s | 64 chunks of ~200 tokens {chunk_rate:.1}/s"
            );
        }
    }
}
