//! Users, projects and tokens: the words the API and the store share.

use crate::words::word_enum;

word_enum! {
    /// What a token is.
    pub enum TokenKind("token kind") {
        /// A user's personal access token.
        Pat = "pat",
        /// A project's service key.
        ServiceKey = "service_key",
    }
}

word_enum! {
    /// A user's role in a project.
    pub enum Role("role") {
        /// May manage members and service keys.
        Owner = "owner",
        Member = "member",
    }
}
