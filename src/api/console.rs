//! The web console, served at `/` from files embedded at build time (`build.rs` makes the table
//! from `web/dist`). It talks to the public API only; these routes serve files and nothing
//! else, and never shadow the API (`/v1/*`, `/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`): only `/` and `/assets/*` are taken. The console routes with `#/…`
//! fragments, so no other path is needed.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::api::routes::Routes;
use crate::auth::policy::Rule;
use crate::error::ApiError;

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// What the browser may load and call: this origin only. The API token lives in the page
/// (session storage), so no inline script, no remote code, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Served at `/` by a binary built without `web/dist`.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ragway: console not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
code,pre{background:#f0f0f0;padding:.1rem .3rem;border-radius:4px}pre{padding:.75rem}</style></head>
<body><h1>The web console is not built into this binary</h1>
<p>ragway is running: the API answers under <code>/v1</code> (see <a href="/openapi.json">/openapi.json</a>).
The console's files are embedded when ragway is compiled, and <code>web/dist</code> did not exist then.</p>
<p>Build the console, then ragway again:</p>
<pre>scripts/web          # npm ci + vite build into web/dist (needs Node 20.19+ and npm)
cargo build --release --bin ragway</pre>
<p><code>scripts/run</code> does both.</p></body></html>"#;

pub fn routes(r: &mut Routes) {
    r.get("/", Rule::Public, index)
        .get("/assets/{file:.*}", Rule::Public, asset);
}

fn find(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// The how-to-build page has its style inline and no script.
const CSP_NOT_BUILT: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

async fn index() -> HttpResponse {
    let page = find("/index.html");
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // Always revalidated: it names the current hashed assets.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            "Content-Security-Policy",
            if page.is_some() { CSP } else { CSP_NOT_BUILT },
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(page.unwrap_or(NOT_BUILT.as_bytes()))
}

async fn asset(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let url = format!("/assets/{}", path.into_inner());
    let bytes = find(&url).ok_or_else(|| ApiError::not_found(None, format!("no file {url}")))?;
    Ok(HttpResponse::Ok()
        .content_type(content_type(&url))
        // Vite names every file under assets/ by its content hash: a new build is a new name.
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

/// The content type of the file kinds a Vite build emits.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether this binary carries the built console (false: `/` explains how to build it).
pub fn is_built() -> bool {
    find("/index.html").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_of_built_files() {
        assert_eq!(
            content_type("/assets/index-a1b2.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("/assets/index-a1b2.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("/assets/x.svg"), "image/svg+xml");
        assert_eq!(content_type("/assets/noext"), "application/octet-stream");
    }
}
