//! Plain operations and chat types with their rules. No I/O lives here.

/// An enum stored and sent as one of a fixed set of words: `as_str`, a lenient `FromStr`
/// that names the allowed words in its error, `Display`, serde, and `ALL`.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the database and used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
                    $($word => Ok($name::$variant),)+
                    _ => Err($crate::domain::UnknownValue {
                        field: $field,
                        value: s.to_string(),
                        allowed: concat!($($word, " "),+),
                    }),
                }
            }
        }

        impl ::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!({"type": "string", "enum": [$($word),+]})
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod action;
mod chat;
mod ops;
pub mod quick;
pub mod recurrence;
pub mod search;
mod user;

pub use action::*;
pub use chat::*;
pub use ops::*;
pub use recurrence::Recurrence;
pub use user::*;
