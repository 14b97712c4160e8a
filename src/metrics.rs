//! Prometheus metrics, rendered for `/metrics` (served by `api::health`): request counts and
//! latencies by status class (counted by the request middleware), and the ingest queue and
//! jobs by status (read from the database at scrape time, so every replica reports the
//! shared queue).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Process-wide counters (one set per process, like the tracing subscriber).
pub struct HttpMetrics {
    /// Per status class: requests, latency sum (µs), and cumulative bucket counts.
    requests: [AtomicU64; 5],
    latency_us: [AtomicU64; 5],
    buckets: [[AtomicU64; BUCKETS.len()]; 5],
}

pub static HTTP: HttpMetrics = HttpMetrics {
    requests: [const { AtomicU64::new(0) }; 5],
    latency_us: [const { AtomicU64::new(0) }; 5],
    buckets: [const { [const { AtomicU64::new(0) }; BUCKETS.len()] }; 5],
};

impl HttpMetrics {
    pub fn observe(&self, status: u16, elapsed: Duration) {
        let class = ((status / 100) as usize).clamp(1, 5) - 1;
        self.requests[class].fetch_add(1, Ordering::Relaxed);
        self.latency_us[class].fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[class][i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP ragway_http_requests_total HTTP requests answered, by status class.\n",
        );
        out.push_str("# TYPE ragway_http_requests_total counter\n");
        for (i, c) in CLASSES.iter().enumerate() {
            out.push_str(&format!(
                "ragway_http_requests_total{{status=\"{c}\"}} {}\n",
                self.requests[i].load(Ordering::Relaxed)
            ));
        }
        out.push_str("# HELP ragway_http_request_duration_seconds Time to the response head, by status class.\n");
        out.push_str("# TYPE ragway_http_request_duration_seconds histogram\n");
        for (i, c) in CLASSES.iter().enumerate() {
            for (j, bound) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "ragway_http_request_duration_seconds_bucket{{status=\"{c}\",le=\"{bound}\"}} {}\n",
                    self.buckets[i][j].load(Ordering::Relaxed)
                ));
            }
            let n = self.requests[i].load(Ordering::Relaxed);
            out.push_str(&format!(
                "ragway_http_request_duration_seconds_bucket{{status=\"{c}\",le=\"+Inf\"}} {n}\n"
            ));
            out.push_str(&format!(
                "ragway_http_request_duration_seconds_sum{{status=\"{c}\"}} {}\n",
                self.latency_us[i].load(Ordering::Relaxed) as f64 / 1e6
            ));
            out.push_str(&format!(
                "ragway_http_request_duration_seconds_count{{status=\"{c}\"}} {n}\n"
            ));
        }
    }
}

/// The ingest queue as gauges: documents by status (all projects), and whether the database
/// answered at all.
pub fn render_documents(out: &mut String, by_status: Option<&[(String, i64)]>) {
    out.push_str("# HELP ragway_documents Documents by ingest status (all projects).\n");
    out.push_str("# TYPE ragway_documents gauge\n");
    match by_status {
        Some(rows) => {
            for (status, n) in rows {
                out.push_str(&format!("ragway_documents{{status=\"{status}\"}} {n}\n"));
            }
            out.push_str("ragway_database_up 1\n");
        }
        None => out.push_str("ragway_database_up 0\n"),
    }
}

/// Jobs by kind and status (all projects).
pub fn render_jobs(out: &mut String, by_kind_status: &[(String, String, i64)]) {
    out.push_str("# HELP ragway_jobs Jobs by kind and status (all projects).\n");
    out.push_str("# TYPE ragway_jobs gauge\n");
    for (kind, status, n) in by_kind_status {
        out.push_str(&format!(
            "ragway_jobs{{kind=\"{kind}\",status=\"{status}\"}} {n}\n"
        ));
    }
}
