//! Tracing, set up once per process: pretty or JSON logs, and a request id on every request's
//! span and in its `x-request-id` response header (an incoming one is kept).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub const REQUEST_ID: &str = "x-request-id";

/// Install the global subscriber; a second call (tests) is a no-op.
pub fn init(log: &LogConfig) {
    // qdrant-edge logs "Feature flags not initialized!" at warn on every call.
    let filter = EnvFilter::try_new(format!("{},qdrant_edge=error,ort=warn", log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Middleware: a span per request carrying its id, and the id echoed in the response.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        project = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    crate::metrics::HTTP.observe(res.status().as_u16(), started.elapsed());
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "handled"
        )
    });
    Ok(res)
}
