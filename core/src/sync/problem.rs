//! The server's RFC 9457 problem documents (`docs/sync-protocol.md`), read
//! from an error response's body, and the error each becomes.

use serde::Deserialize;

use crate::Error;

/// What the server says about a refused request.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Problem {
    /// What to fix, for a person.
    #[serde(default)]
    pub(crate) detail: String,
    /// The problem's short description.
    #[serde(default)]
    pub(crate) title: String,
    /// `https://carnet.invalid/problems/<name>`: clients match on the name.
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
}

impl Problem {
    /// The problem in an error response's body; an empty one if the body is
    /// not a problem document (a proxy's page, a cut body).
    pub(crate) fn parse(body: &[u8]) -> Problem {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// The name at the end of the problem's type (`wipe`, `refused`…).
    pub(crate) fn name(&self) -> &str {
        self.kind.rsplit('/').next().unwrap_or_default()
    }

    /// What to show a person: the detail, or the title when there is none.
    pub(crate) fn explanation(self) -> String {
        if self.detail.is_empty() {
            self.title
        } else {
            self.detail
        }
    }

    /// The error a final refusal with `status` becomes: a revoked or unknown
    /// token is [`Error::Unauthorized`] (the device must enroll again),
    /// a 426 is [`Error::UpdateRequired`] (this app's format is too old for
    /// the server: whatever proxy or server version said it, only an update
    /// helps), anything else the server's own explanation.
    pub(crate) fn into_error(self, status: u16) -> Error {
        match status {
            401 => Error::Unauthorized,
            426 => Error::UpdateRequired,
            _ => Error::Server {
                status,
                detail: self.explanation(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_explanations() {
        let p = Problem::parse(
            br#"{"type":"https://carnet.invalid/problems/wipe","title":"Wipe ordered","status":410}"#,
        );
        assert_eq!(p.name(), "wipe");
        assert_eq!(p.explanation(), "Wipe ordered");
        let p = Problem::parse(b"<html>bad gateway</html>");
        assert_eq!(p.name(), "");
        assert!(matches!(
            Problem::parse(b"{}").into_error(401),
            Error::Unauthorized
        ));
        assert!(matches!(
            Problem::parse(br#"{"detail":"fix it"}"#).into_error(400),
            Error::Server { status: 400, detail } if detail == "fix it"
        ));
        let p = Problem::parse(
            br#"{"type":"https://carnet.invalid/problems/update-required","status":426}"#,
        );
        assert_eq!(p.name(), "update-required");
        assert!(matches!(p.into_error(426), Error::UpdateRequired));
    }
}
