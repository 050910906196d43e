//! Typed identifiers. Each wraps a UUID so an account id can never be passed where a session id
//! is expected. Session ids are UUIDv7, so they sort by creation time in every index.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $new:expr) => {
        $(#[$doc])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, unguessable id.
            pub fn new() -> Self {
                Self($new)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A session's unique id (SUID). Devices and viewers address a session by it.
    Suid,
    Uuid::now_v7()
);
id_type!(
    /// An account: a group of users who share sessions.
    AccountId,
    Uuid::new_v4()
);
id_type!(
    /// A user of an account.
    UserId,
    Uuid::new_v4()
);
id_type!(
    /// A device registered into a session with a ticket.
    DeviceId,
    Uuid::new_v4()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let suid = Suid::new();
        let parsed: Suid = suid.to_string().parse().unwrap();
        assert_eq!(suid, parsed);
        assert!("not-a-uuid".parse::<Suid>().is_err());
    }

    #[test]
    fn suids_sort_by_creation() {
        let a = Suid::new();
        let b = Suid::new();
        assert!(a.to_string() < b.to_string() || a.0.get_timestamp() == b.0.get_timestamp());
    }
}
