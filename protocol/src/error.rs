//! The one error of the contract: a request value that is wrong, naming the parameter (a
//! path such as `rag_params.k` or `messages[0].role`) and saying what was expected.

/// A request parameter that does not parse or is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// Where: the parameter's path in the body (`rag_params.filter.year.gte`).
    pub param: String,
    /// What was wrong, for people; names the parameter.
    pub message: String,
}

impl ParamError {
    /// An error of `param`.
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            param: param.into(),
            message: message.into(),
        }
    }
}
