//! Enums sent and stored as one of a fixed set of words (`queued`, `reindex_kb`, `owner`):
//! one macro gives each its text, parsing (`FromStr`, `TryFrom<String>` for the store's
//! decoding), serde, and comparison with plain text.

/// A word that is none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`; one of {expected}")]
pub struct UnknownWord {
    /// What was parsed (`status`, `kind`, `role`).
    pub what: &'static str,
    pub value: String,
    /// Every accepted word, comma-separated.
    pub expected: String,
}

/// `word_enum! { /// doc \n pub enum Name("what") { Variant = "text", … } }`.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word this value is sent and stored as.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Every word, comma-separated (for error messages).
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::words::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::words::UnknownWord {
                        what: $what,
                        value: other.to_owned(),
                        expected: Self::expected(),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::words::UnknownWord;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

pub(crate) use word_enum;

#[cfg(test)]
mod tests {
    use crate::jobs::JobStatus;

    #[test]
    fn words_parse_print_and_compare_with_text() {
        assert_eq!("running".parse::<JobStatus>(), Ok(JobStatus::Running));
        assert_eq!(JobStatus::Canceled.to_string(), "canceled");
        assert_eq!(JobStatus::Queued, "queued");
        let e = "paused".parse::<JobStatus>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown status `paused`; one of queued, running, succeeded, failed, canceled"
        );
        assert_eq!(
            serde_json::to_value(JobStatus::Succeeded).unwrap(),
            "succeeded"
        );
        assert!(serde_json::from_value::<JobStatus>(serde_json::json!("nope")).is_err());
    }
}
