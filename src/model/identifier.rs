//! Names that end up in PostgreSQL or on disk: cluster, node, role and slot
//! names, each checked against the characters it may hold. Pure.

use std::fmt;

use serde::Serialize;

/// Why a string is not a valid name of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierError {
    Empty,
    TooLong {
        max: usize,
    },
    BadCharacter {
        character: char,
        allowed: &'static str,
    },
    StartsWithDigit,
    Reserved {
        why: &'static str,
    },
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "it is empty"),
            Self::TooLong { max } => write!(f, "it is longer than {max} characters"),
            Self::BadCharacter { character, allowed } => {
                write!(f, "{character:?} is not allowed (only {allowed})")
            }
            Self::StartsWithDigit => write!(f, "it starts with a digit"),
            Self::Reserved { why } => write!(f, "{why}"),
        }
    }
}

/// PostgreSQL truncates identifiers at NAMEDATALEN - 1 bytes.
const MAX_POSTGRES_IDENTIFIER: usize = 63;

fn check(
    text: &str,
    max: usize,
    allowed: &'static str,
    is_allowed: impl Fn(char) -> bool,
) -> Result<(), IdentifierError> {
    if text.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if let Some(character) = text.chars().find(|c| !is_allowed(*c)) {
        return Err(IdentifierError::BadCharacter { character, allowed });
    }
    if text.len() > max {
        return Err(IdentifierError::TooLong { max });
    }
    Ok(())
}

fn is_lower_digit_underscore(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

fn is_lower_digit_underscore_dash(c: char) -> bool {
    is_lower_digit_underscore(c) || c == '-'
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $validate:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(text: &str) -> Result<Self, IdentifierError> {
                let validate: fn(&str) -> Result<(), IdentifierError> = $validate;
                validate(text)?;
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(&text).map_err(|error| serde::de::Error::custom(format!("{text:?}: {error}")))
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                String::json_schema(generator)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// A cluster's name: `[a-z0-9_-]`, at most 63 characters. Used in lock,
    /// audit and backup file names, so it must be safe in a path.
    ClusterName,
    |text| check(text, MAX_POSTGRES_IDENTIFIER, "a-z, 0-9, _ and -", is_lower_digit_underscore_dash)
);

identifier!(
    /// A node's name: `[a-z0-9_-]`, at most 63 characters. It becomes the
    /// mirror's `application_name` and, with `-` turned into `_`, its default slot.
    NodeName,
    |text| check(text, MAX_POSTGRES_IDENTIFIER, "a-z, 0-9, _ and -", is_lower_digit_underscore_dash)
);

identifier!(
    /// A physical replication slot's name: PostgreSQL allows only `[a-z0-9_]`, at most 63.
    SlotName,
    |text| check(text, MAX_POSTGRES_IDENTIFIER, "a-z, 0-9 and _", is_lower_digit_underscore)
);

identifier!(
    /// The replication role: `[a-z0-9_]`, at most 63, not starting with a digit
    /// (so it never needs quoting), and not a role PostgreSQL or the server owns.
    RoleName,
    |text| {
        check(text, MAX_POSTGRES_IDENTIFIER, "a-z, 0-9 and _", is_lower_digit_underscore)?;
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(IdentifierError::StartsWithDigit);
        }
        if text.starts_with("pg_") {
            return Err(IdentifierError::Reserved {
                why: "names starting with pg_ are reserved by PostgreSQL",
            });
        }
        if text == "postgres" {
            return Err(IdentifierError::Reserved {
                why: "postgres is the superuser; mirrorset would change its password and connection limit",
            });
        }
        Ok(())
    }
);

impl SlotName {
    /// The slot a node gets when the file names none: its name with `-` as `_`.
    pub fn default_for(node: &NodeName) -> Result<Self, IdentifierError> {
        Self::new(&node.as_str().replace('-', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_their_alphabet() {
        assert!(NodeName::new("db-1_a").is_ok());
        assert!(SlotName::new("db_1").is_ok());
        assert!(RoleName::new("replicator").is_ok());
        assert!(ClusterName::new("pam-prod").is_ok());
    }

    #[test]
    fn names_reject_what_postgres_or_paths_would_not_take() {
        assert_eq!(
            SlotName::new("db-1"),
            Err(IdentifierError::BadCharacter {
                character: '-',
                allowed: "a-z, 0-9 and _"
            })
        );
        assert_eq!(NodeName::new(""), Err(IdentifierError::Empty));
        assert_eq!(
            NodeName::new(&"a".repeat(64)),
            Err(IdentifierError::TooLong { max: 63 })
        );
        assert!(NodeName::new(&"a".repeat(63)).is_ok());
        assert_eq!(
            RoleName::new("1repl"),
            Err(IdentifierError::StartsWithDigit)
        );
        assert!(matches!(
            RoleName::new("pg_repl"),
            Err(IdentifierError::Reserved { .. })
        ));
        assert!(matches!(
            RoleName::new("postgres"),
            Err(IdentifierError::Reserved { .. })
        ));
        assert!(ClusterName::new("Pam").is_err());
    }

    #[test]
    fn default_slot_replaces_dashes() {
        let node = NodeName::new("site-a-db2").unwrap();
        assert_eq!(SlotName::default_for(&node).unwrap().as_str(), "site_a_db2");
    }
}
