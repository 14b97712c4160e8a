//! The route table. Every route is registered through [`Routes::add`] with its method, path and
//! authorization [`Rule`] — a route cannot be added without one — and the rule is enforced by
//! a guard wrapped around that route's handler, before any extractor runs. The same calls,
//! made without a `ServiceConfig`, give [`table`]: what the tests (the authorization matrix,
//! the OpenAPI check) and the docs are checked against.

use std::sync::OnceLock;

use actix_web::body::BoxBody;
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, Handler, HttpMessage, Responder};

use crate::api::extract::header;
use crate::auth::policy::{self, Rule};
use crate::auth::{PROJECT_HEADER, USER_HEADER};
use crate::error::ApiError;
use crate::state::AppState;

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub method: Method,
    pub path: &'static str,
    pub rule: Rule,
}

/// Collects the table and, when mounting, registers each route with its guard.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    table: Vec<RouteRule>,
}

impl<'a> Routes<'a> {
    /// Registers into `cfg` as it collects.
    pub fn mount(cfg: &'a mut web::ServiceConfig) -> Self {
        Routes {
            cfg: Some(cfg),
            table: Vec::new(),
        }
    }

    /// Only collects.
    pub fn table_only() -> Routes<'static> {
        Routes {
            cfg: None,
            table: Vec::new(),
        }
    }

    pub fn into_table(self) -> Vec<RouteRule> {
        self.table
    }

    /// Add `method path`, open to whom `rule` allows. Panics (at start-up, and in every test)
    /// when the rule reads a path parameter the path lacks, or the route is there already.
    pub fn add<F, Args>(
        &mut self,
        method: Method,
        path: &'static str,
        rule: Rule,
        handler: F,
    ) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        for p in rule.path_params() {
            assert!(
                path.contains(&format!("{{{p}}}")),
                "route {method} {path}: rule `{}` needs {{{p}}} in the path",
                rule.as_str()
            );
        }
        let row = RouteRule { method, path, rule };
        assert!(
            !self.table.contains(&row),
            "route {} {path} registered twice",
            row.method
        );
        if let Some(cfg) = self.cfg.as_deref_mut() {
            let route = web::method(row.method.clone())
                .to(handler)
                .wrap(from_fn(move |req, next| guard(rule, req, next)));
            cfg.route(path, route);
        }
        self.table.push(row);
        self
    }

    pub fn get<F, Args>(&mut self, path: &'static str, rule: Rule, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, rule, handler)
    }

    pub fn post<F, Args>(&mut self, path: &'static str, rule: Rule, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, rule, handler)
    }

    pub fn put<F, Args>(&mut self, path: &'static str, rule: Rule, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, path, rule, handler)
    }

    pub fn patch<F, Args>(&mut self, path: &'static str, rule: Rule, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PATCH, path, rule, handler)
    }

    pub fn delete<F, Args>(&mut self, path: &'static str, rule: Rule, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, rule, handler)
    }
}

/// Every route and its rule, as `api::configure` registers them.
pub fn table() -> Vec<RouteRule> {
    let mut routes = Routes::table_only();
    crate::api::routes_into(&mut routes);
    routes.into_table()
}

/// The methods some route has for `path` (the `/api` mirror included), sorted; empty when no
/// route has this path. For 405's `Allow`.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    static PATTERNS: OnceLock<Vec<(ResourceDef, Method)>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        let mut api = Routes::table_only();
        super::api_routes(&mut api);
        let mirrored = api
            .into_table()
            .into_iter()
            .map(|row| (ResourceDef::new(format!("/api{}", row.path)), row.method));
        table()
            .into_iter()
            .map(|row| (ResourceDef::new(row.path), row.method))
            .chain(mirrored)
            .collect()
    });
    let mut methods: Vec<&'static str> = patterns
        .iter()
        .filter(|(def, _)| def.is_match(path))
        .filter_map(|(_, method)| method_name(method))
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

fn method_name(method: &Method) -> Option<&'static str> {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ]
    .into_iter()
    .zip(["GET", "POST", "PUT", "PATCH", "DELETE"])
    .find(|(m, _)| m == method)
    .map(|(_, name)| name)
}

/// The rule, evaluated before the handler: a denial answers at once; a grant is left in the
/// request for the `Principal` and `Caller` extractors.
async fn guard(
    rule: Rule,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if rule == Rule::Public {
        return next.call(req).await;
    }
    match decide(rule, &req).await {
        Ok(None) => next.call(req).await,
        Ok(Some(access)) => {
            if let Some(caller) = &access.caller {
                tracing::Span::current().record("project", caller.project_id.as_str());
            }
            req.extensions_mut().insert(access);
            next.call(req).await
        }
        Err(e) => Ok(req.error_response(e)),
    }
}

async fn decide(rule: Rule, req: &ServiceRequest) -> Result<Option<policy::Access>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
    let http = req.request();
    let authorization = header(http, "Authorization")?;
    let path = req.match_info();
    let request = policy::Request {
        authorization: authorization.as_deref(),
        user_header: header(http, USER_HEADER)?,
        project_header: header(http, PROJECT_HEADER)?,
        project_id: path.get("project_id"),
        user_id: path.get("user_id"),
        token_id: path.get("token_id"),
    };
    Ok(policy::authorize(&state, rule, request).await?)
}
