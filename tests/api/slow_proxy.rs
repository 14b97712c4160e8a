//! A slow generation backend for tests, over real HTTP: it forwards chat completions to a real
//! one (llama.cpp) after a delay. A streamed answer's headers go out at once and its first
//! bytes only after the delay, as from a backend that takes long to its first token; a whole
//! answer comes after the delay.

use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::StreamExt;
use serde_json::Value;

struct Upstream {
    http: reqwest::Client,
    /// `http://host:port/v1` of the real backend.
    base_url: String,
    delay: Duration,
}

pub struct SlowProxy {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    _handle: actix_web::dev::ServerHandle,
}

impl SlowProxy {
    pub async fn start(upstream: &str, delay: Duration) -> SlowProxy {
        let data = web::Data::new(Upstream {
            // A fresh connection per request: a pooled one llama.cpp is closing would fail it.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            base_url: upstream.to_owned(),
            delay,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(completions))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        SlowProxy {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            _handle: handle,
        }
    }
}

async fn completions(up: web::Data<Upstream>, body: web::Bytes) -> HttpResponse {
    let streamed = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["stream"].as_bool())
        .unwrap_or(false);
    let request = up
        .http
        .post(format!("{}/chat/completions", up.base_url))
        .header("Content-Type", "application/json")
        .body(body);
    let delay = up.delay;
    if !streamed {
        tokio::time::sleep(delay).await;
        return match request.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let bytes = res.bytes().await.unwrap_or_default();
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                    .content_type("application/json")
                    .body(bytes)
            }
            Err(e) => HttpResponse::BadGateway().body(e.to_string()),
        };
    }
    let delayed = futures_util::stream::once(async move {
        tokio::time::sleep(delay).await;
        match request.send().await {
            Ok(res) => res
                .bytes_stream()
                .map(|r| r.map_err(actix_web::error::ErrorBadGateway))
                .boxed(),
            Err(e) => {
                futures_util::stream::once(async move { Err(actix_web::error::ErrorBadGateway(e)) })
                    .boxed()
            }
        }
    })
    .flatten();
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(delayed)
}
