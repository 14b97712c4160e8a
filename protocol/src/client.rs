//! Which client a request comes from, where two clients want different things from one
//! server. Most of the wire is one shape for every client (see `docs/API.md`, "Clients"); the
//! dialect decides only what cannot be shared: the status of a bad request (OpenAI SDKs map
//! 400 to `BadRequestError`, JamAI's maps 422 to `BadInputError`), the first SSE event of a
//! stream with references, and the `object` of `GET /v1/models`.

use crate::words::word_enum;
use crate::ParamError;

word_enum! {
    /// The client dialect a request speaks.
    pub enum Dialect("dialect") {
        /// OpenAI's API, as its SDKs (Python, Node, …) and most other clients speak it.
        OpenAi = "openai",
        /// JamAI Base's API, as its `jamaibase` SDK speaks it.
        JamAi = "jamai",
    }
}

/// The header that names the dialect explicitly (`openai` or `jamai`).
pub const DIALECT_HEADER: &str = "X-Ragway-Dialect";

impl Dialect {
    /// The dialect of a request: the one `X-Ragway-Dialect` names, else JamAI's when the
    /// `User-Agent` is the `jamaibase` SDK's (`SDK/<version> (Python/…`), else OpenAI's.
    pub fn detect(explicit: Option<&str>, user_agent: Option<&str>) -> Result<Dialect, ParamError> {
        if let Some(word) = explicit.map(str::trim).filter(|w| !w.is_empty()) {
            return word.to_ascii_lowercase().parse().map_err(|_| {
                ParamError::new(
                    DIALECT_HEADER,
                    format!(
                        "{DIALECT_HEADER} must be one of {}, got `{word}`",
                        Dialect::expected()
                    ),
                )
            });
        }
        let jamai_sdk = user_agent.is_some_and(|ua| ua.starts_with("SDK/"));
        Ok(if jamai_sdk {
            Dialect::JamAi
        } else {
            Dialect::OpenAi
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_then_the_user_agent_decides() {
        let jamai_ua = Some("SDK/1.0.5 (Python/3.11.2; Linux 6.1.0; x86_64)");
        assert_eq!(Dialect::detect(None, jamai_ua), Ok(Dialect::JamAi));
        assert_eq!(
            Dialect::detect(None, Some("OpenAI/Python 3.57.0")),
            Ok(Dialect::OpenAi)
        );
        assert_eq!(Dialect::detect(None, None), Ok(Dialect::OpenAi));
        assert_eq!(
            Dialect::detect(Some("openai"), jamai_ua),
            Ok(Dialect::OpenAi)
        );
        assert_eq!(Dialect::detect(Some(" JamAI "), None), Ok(Dialect::JamAi));
        assert_eq!(Dialect::detect(Some(""), jamai_ua), Ok(Dialect::JamAi));
        let e = Dialect::detect(Some("anthropic"), None).unwrap_err();
        assert_eq!(e.param, DIALECT_HEADER);
        assert!(e.message.contains("openai, jamai"), "{e}");
    }
}
