//! Per-document cost of parsing in a child process ([`ragway_ingest::isolate`]) against
//! parsing in-process, on a small Markdown file and a 40-page PDF. The example is its own
//! child (env `RAGWAY_PARSE_CHILD=1`), as `ragway parse` will be for the server.
//! Usage: cargo run -p ragway-ingest --example isolate_overhead -- [N] [--json]
use std::time::{Duration, Instant};

use ragway_ingest::isolate::{run_isolated, serve_stdio, ParserCommand};
use ragway_ingest::{fixtures, parse_limited, ParseLimits, ParseOptions};

fn main() {
    if std::env::var_os("RAGWAY_PARSE_CHILD").is_some() {
        std::process::exit(serve_stdio());
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(50);
    let json = args.iter().any(|a| a == "--json");
    let command =
        ParserCommand::new(std::env::current_exe().unwrap()).env("RAGWAY_PARSE_CHILD", "1");
    let (opts, limits) = (ParseOptions::default(), ParseLimits::default());
    let markdown = "# Notes\n\nGlaciers carve U-shaped valleys over millennia.\n\n".repeat(40);
    let line = "Moraines mark where a glacier once ended, line after line of till.";
    let page: Vec<&str> = vec![line; 40];
    let pages: Vec<&[&str]> = vec![&page; 40];
    let pdf = fixtures::pdf(&pages, Some("Forty pages"));
    for (name, bytes) in [("notes.md", markdown.into_bytes()), ("book.pdf", pdf)] {
        let mut inproc = Vec::with_capacity(n);
        let mut isolated = Vec::with_capacity(n);
        let mut rss = 0;
        for _ in 0..n {
            let t = Instant::now();
            parse_limited(&bytes, Some(name), None, &opts, &limits).unwrap();
            inproc.push(t.elapsed());
            let t = Instant::now();
            let outcome = run_isolated(&command, &bytes, Some(name), None, &opts, &limits);
            isolated.push(t.elapsed());
            outcome.result.unwrap();
            rss = rss.max(outcome.stats.peak_rss_kib);
        }
        let (a, b) = (median(&mut inproc), median(&mut isolated));
        let overhead = b.saturating_sub(a);
        if json {
            println!(
                r#"{{"file":"{name}","bytes":{},"runs":{n},"in_process_ms":{:.3},"isolated_ms":{:.3},"overhead_ms":{:.3},"child_peak_rss_kib":{rss}}}"#,
                bytes.len(),
                ms(a),
                ms(b),
                ms(overhead)
            );
        } else {
            println!(
                "{name:9} {:>8} bytes, median of {n}: in-process {:>7.2} ms, isolated {:>7.2} ms, overhead {:>6.2} ms, child peak RSS {rss} KiB",
                bytes.len(),
                ms(a),
                ms(b),
                ms(overhead)
            );
        }
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
