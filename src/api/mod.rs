//! Thin HTTP handlers, one module per resource, each adding its routes to the route table
//! (`routes`) with the authorization rule of each.

use actix_web::web;

use crate::error::ApiError;

pub mod catalog;
pub mod chat;
pub mod console;
pub mod dialect;
pub mod documents;
pub mod extract;
pub mod health;
pub mod jobs;
pub mod knowledge_bases;
pub mod models;
pub mod routes;
pub mod search;
pub mod tenancy;
pub mod upload;
pub mod views;

/// Mount every route, each behind the guard of its rule: the API at the root and again under
/// `/api` (JamAI's hosted base URL ends in `/api`, a self-hosted one may not; its SDK works
/// with either), the console at `/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes_into(&mut routes::Routes::mount(cfg));
    cfg.service(web::scope("/api").configure(|api| api_routes(&mut routes::Routes::mount(api))));
}

/// Every route, into one table (the `/api` mirror is the same routes again).
pub(crate) fn routes_into(r: &mut routes::Routes) {
    api_routes(r);
    console::routes(r);
}

/// The API's routes.
fn api_routes(r: &mut routes::Routes) {
    health::routes(r);
    chat::routes(r);
    models::routes(r);
    tenancy::routes(r);
    knowledge_bases::routes(r);
    documents::routes(r);
    search::routes(r);
    jobs::routes(r);
    catalog::routes(r);
}

/// Ids chosen by callers (users, projects, knowledge bases): 1–64 of `a-z A-Z 0-9 _ - .`,
/// starting with a letter or digit, so they are safe in paths, logs and collection names.
pub fn validate_id(param: &str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            param,
            format!("`{id}` is not a valid id: use 1-64 letters, digits, `_`, `-` or `.`, starting with a letter or digit"),
        ))
    }
}

/// Requests no route takes, in the same error shape as everything else: a known path with
/// another method is 405 with `Allow` naming the path's methods; anything else is 404.
pub async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let allowed = routes::allowed_methods(req.path());
    if allowed.is_empty() {
        let message = format!("no route for {} {}", req.method(), req.path());
        return ApiError::not_found(None, message).error_response();
    }
    let allow = allowed.join(", ");
    let message = format!(
        "{} is not allowed on {}; allowed: {allow}",
        req.method(),
        req.path()
    );
    let mut res = ApiError::new(crate::error::Code::MethodNotAllowed, message).error_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    res
}
