//! What an enrolled device may do. One type for the server that grants it,
//! the device that stores it and the tools that ask for codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A device's role in its team, chosen when the supervisor issues the
/// enrollment code. On the wire and in the stores it is its lowercase code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Records and syncs the team's notebook.
    Mediator,
    /// Also reads the merged log, issues codes and manages devices.
    Supervisor,
}

impl Role {
    /// Both roles.
    pub const ALL: [Role; 2] = [Role::Mediator, Role::Supervisor];

    /// The role's code, as the API, the stores and the command line spell it.
    pub fn code(self) -> &'static str {
        match self {
            Role::Mediator => "mediator",
            Role::Supervisor => "supervisor",
        }
    }
}

impl fmt::Display for Role {
    /// The code, padded as the format asks (`{:<10}` in a table).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.code())
    }
}

impl FromStr for Role {
    type Err = Error;

    /// Reads a code, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| Error::invalid("role", "expected mediator or supervisor"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text_and_json() {
        for role in Role::ALL {
            assert_eq!(role.code().parse::<Role>().unwrap(), role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.code()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert_eq!(" Supervisor ".parse::<Role>().unwrap(), Role::Supervisor);
    }

    #[test]
    fn unknown_roles_are_refused_by_name_not_value() {
        let err = "admin".parse::<Role>().unwrap_err();
        assert!(matches!(&err, Error::Invalid { field, .. } if field == "role"));
        assert!(!err.to_string().contains("admin"));
        assert!(serde_json::from_str::<Role>("\"admin\"").is_err());
    }
}
