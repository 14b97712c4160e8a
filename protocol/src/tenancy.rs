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

word_enum! {
    /// Where a user stands in a project: a member, or invited and not yet accepted.
    pub enum MemberStatus("member status") {
        Member = "member",
        /// An owner asked; the user has not accepted. Grants nothing.
        Invited = "invited",
    }
}

/// `POST /v1/users` (admin only).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub id: String,
    pub name: Option<String>,
}

/// `PATCH /v1/users/{user_id}`: fields left out stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub name: Option<String>,
    /// The project a PAT acts in when `X-PROJECT-ID` is omitted: a project id, or `null` for
    /// none (then the header is required). Absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    pub default_project_id: Option<Option<String>>,
}

/// A field that is present, even as `null`, becomes `Some(value)`; an absent one stays `None`
/// (through `#[serde(default)]`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// `POST /v1/projects`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub id: String,
    pub name: Option<String>,
    /// With the admin token: the user who becomes the project's owner.
    pub owner: Option<String>,
}

/// `POST /v1/users/{user_id}/tokens` and `POST /v1/projects/{project_id}/keys`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: Option<String>,
    /// Scope a PAT to one project (for a key: must be the path's project, if given).
    pub project_id: Option<String>,
}

/// `PUT /v1/projects/{project_id}/members/{user_id}`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_default_project_is_not_an_absent_one() {
        let u: UserUpdate = serde_json::from_str(r#"{"default_project_id": null}"#).unwrap();
        assert_eq!(u.default_project_id, Some(None));
        let u: UserUpdate = serde_json::from_str(r#"{"default_project_id": "p"}"#).unwrap();
        assert_eq!(u.default_project_id, Some(Some("p".into())));
        let u: UserUpdate = serde_json::from_str(r#"{"name": "N"}"#).unwrap();
        assert_eq!(u.default_project_id, None);
        assert!(serde_json::from_str::<UserUpdate>(r#"{"default": "p"}"#).is_err());
        let m: MemberRequest = serde_json::from_str(r#"{"role": "owner"}"#).unwrap();
        assert_eq!(m.role, Role::Owner);
        assert!(serde_json::from_str::<MemberRequest>(r#"{"role": "boss"}"#).is_err());
    }
}
