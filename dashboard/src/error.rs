//! The dashboard's one error type and the French page it becomes.
//!
//! Internal failures are logged (cause only, never record content) and shown
//! as a bare "erreur interne" page, so no internals reach the browser.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::html::html;

/// Every failure of the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// A malformed request (bad date, unknown filter, bad CSRF token).
    #[error("{0}")]
    BadRequest(String),
    /// The request was understood and refused (a weak password, a wrong
    /// code, an e-mail already taken): the French reason is shown.
    #[error("{0}")]
    Refused(String),
    /// No such record or page.
    #[error("{0}")]
    NotFound(String),
    /// The request needs a session it does not have.
    #[error("session absente ou expirée")]
    Unauthorized,
    /// Too many failed sign-ins from this address or on this account: the
    /// backend refuses further attempts for this many seconds, so
    /// passwords and codes cannot be guessed.
    #[error(
        "trop de tentatives de connexion depuis cette adresse ou sur ce compte : réessayez dans {} minute(s)",
        .0.div_ceil(60).max(1)
    )]
    TooManyAttempts(u64),
    /// A failure of the core (store, documents).
    #[error(transparent)]
    Core(#[from] carnet_core::Error),
    /// A failure of the dashboard's own database.
    #[error("dashboard database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else: a spreadsheet that failed to build, a bug in the server.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<rust_xlsxwriter::XlsxError> for DashboardError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        DashboardError::Internal(format!("xlsx: {e}"))
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match &self {
            DashboardError::BadRequest(m) => {
                (StatusCode::BAD_REQUEST, "Requête invalide", m.clone())
            }
            DashboardError::NotFound(m) => (StatusCode::NOT_FOUND, "Introuvable", m.clone()),
            DashboardError::Refused(m) => (StatusCode::UNPROCESSABLE_ENTITY, "Refusé", m.clone()),
            DashboardError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Connexion nécessaire",
                self.to_string(),
            ),
            DashboardError::TooManyAttempts(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Trop de tentatives",
                self.to_string(),
            ),
            DashboardError::Core(carnet_core::Error::NotFound(_)) => (
                StatusCode::NOT_FOUND,
                "Introuvable",
                "Cette fiche n'existe pas dans le journal de l'équipe.".into(),
            ),
            DashboardError::Core(carnet_core::Error::Erased(_)) => (
                StatusCode::GONE,
                "Effacée",
                "Cette fiche a été effacée à la demande de la personne.".into(),
            ),
            other => {
                tracing::error!(error = %other, "dashboard request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Erreur interne", "Le serveur n'a pas pu répondre ; réessayez ou prévenez la personne qui l'administre.".into())
            }
        };
        let body = crate::html::bare_page(
            title,
            html! {
                h1 { (title) }
                p { (detail) }
                p { a href={ (crate::MOUNT) "/" } { "Retour au tableau de bord" } }
            },
        );
        let mut resp = (
            status,
            crate::html::security_headers(),
            Html(body.into_string()),
        )
            .into_response();
        if let DashboardError::TooManyAttempts(secs) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}
