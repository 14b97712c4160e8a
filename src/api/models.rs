//! The models a request may name: `GET /v1/models` (OpenAI's list; JamAI's `models.info` for
//! its dialect, with the fields its `ModelInfo` needs) and `GET /v1/models/ids` (JamAI's
//! `model_ids()`: the ids, `prefer` first). Both take JamAI's filters, `model` and
//! `capabilities` (repeated; a model must have all of them).

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::api::dialect::ClientDialect;
use crate::api::routes::Routes;
use crate::auth::policy::Rule;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::generation::Model;
use crate::state::AppState;
use ragway_protocol::client::Dialect;

pub fn routes(r: &mut Routes) {
    r.get("/v1/models", Rule::Token, models)
        .get("/v1/models/ids", Rule::Token, model_ids);
}

/// What a model can do, in JamAI's words: every model chats and is given the tools a request
/// sends (ragway forwards them); `reasoning` when configured so.
fn capabilities(m: &Model) -> Vec<&'static str> {
    let mut c = vec!["chat", "tool"];
    if m.reasoning {
        c.push("reasoning");
    }
    c
}

/// The query's filters: `model` (one id; empty = any), `capabilities` (all of them), and
/// `prefer` (an id to list first).
#[derive(Debug, Default)]
struct Filters {
    model: String,
    capabilities: Vec<String>,
    prefer: String,
}

impl Filters {
    fn from_pairs(pairs: Vec<(String, String)>) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            match k.as_str() {
                "model" | "name" => f.model = v,
                "capabilities" => f.capabilities.push(v),
                "prefer" => f.prefer = v,
                _ => {}
            }
        }
        f
    }

    /// The models that pass, `prefer` first when it is among them.
    fn apply(&self, models: Vec<Model>) -> Vec<Model> {
        let mut out: Vec<Model> = models
            .into_iter()
            .filter(|m| self.model.is_empty() || m.id == self.model)
            .filter(|m| {
                let have = capabilities(m);
                self.capabilities.iter().all(|c| have.contains(&c.as_str()))
            })
            .collect();
        if let Some(i) = out.iter().position(|m| m.id == self.prefer) {
            let preferred = out.remove(i);
            out.insert(0, preferred);
        }
        out
    }
}

/// One model, as both OpenAI's `Model` and JamAI's `ModelInfo` read it.
fn view(m: &Model, dialect: Dialect) -> Value {
    let mut v = json!({
        "id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by,
        "name": m.id, "type": "llm", "context_length": m.context_length,
        "capabilities": capabilities(m),
    });
    if dialect == Dialect::JamAi {
        // JamAI's ModelInfo is a table row: it requires these.
        v["created_at"] = json!("1970-01-01T00:00:00Z");
        v["updated_at"] = json!("1970-01-01T00:00:00Z");
    }
    v
}

async fn models(
    state: web::Data<AppState>,
    _who: Principal,
    ClientDialect(dialect): ClientDialect,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filters = Filters::from_pairs(query.into_inner());
    let data: Vec<Value> = filters
        .apply(state.generation.listed_models().await)
        .iter()
        .map(|m| view(m, dialect))
        .collect();
    let object = match dialect {
        Dialect::OpenAi => "list",
        Dialect::JamAi => "models.info",
    };
    Ok(HttpResponse::Ok().json(json!({"object": object, "data": data})))
}

async fn model_ids(
    state: web::Data<AppState>,
    _who: Principal,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filters = Filters::from_pairs(query.into_inner());
    let ids: Vec<String> = filters
        .apply(state.generation.listed_models().await)
        .into_iter()
        .map(|m| m.id)
        .collect();
    Ok(HttpResponse::Ok().json(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, reasoning: bool) -> Model {
        Model {
            id: id.into(),
            upstream_id: id.into(),
            context_length: 8192,
            dropped: vec![],
            reasoning,
            backend: 0,
            owned_by: "b".into(),
        }
    }

    fn ids(query: &[(&str, &str)]) -> Vec<String> {
        let pairs = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let models = vec![model("a", false), model("r", true), model("c", false)];
        Filters::from_pairs(pairs)
            .apply(models)
            .into_iter()
            .map(|m| m.id)
            .collect()
    }

    #[test]
    fn filters_and_preference() {
        assert_eq!(ids(&[]), ["a", "r", "c"]);
        assert_eq!(ids(&[("prefer", "c")]), ["c", "a", "r"]);
        assert_eq!(ids(&[("prefer", "zzz")]), ["a", "r", "c"]);
        assert_eq!(
            ids(&[("capabilities", "chat"), ("capabilities", "reasoning")]),
            ["r"]
        );
        assert!(ids(&[("capabilities", "embed")]).is_empty());
        assert_eq!(ids(&[("model", "c"), ("prefer", "")]), ["c"]);
    }
}
