//! Stand-in for the coordinator's acting.rs (replaced at the merge).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use carnet_core::RecordId;
use carnet_core::edit::Action;

use super::{AppState, Auth, blocking};
use crate::html::{Markup, html, security_headers};
use crate::{DashboardError, MOUNT};

/// CSRF-checks, applies `action`, logs `what` on [id], answers 303 to
/// `{back}?fait={done}`, or a 422 French page saying why the rules refused it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn act(
    st: Arc<AppState>,
    auth: Auth,
    csrf: String,
    id: RecordId,
    action: Action,
    what: String,
    back: String,
    done: &'static str,
) -> Result<Response, DashboardError> {
    auth.check_csrf(&csrf)?;
    let permits = st.config.storage_permits.clone();
    blocking(&permits, move || {
        let who = auth.session.supervisor.clone();
        match st.backend.act(&who, id, &action) {
            Ok(()) => {}
            Err(DashboardError::Core(e)) if refusable(&e) => {
                let body = crate::html::bare_page(
                    "Refusé",
                    html! { h1 { "Modification refusée" } p { (refusal(&e)) } p { a href=(back) { "Retour" } } },
                );
                return Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    security_headers(),
                    Html(body.into_string()),
                )
                    .into_response());
            }
            Err(e) => return Err(e),
        }
        st.log.record(&crate::Access {
            team_id: &who.team_id,
            device_id: &who.account_id,
            person: &who.name,
            client: &auth.client,
            action: &what,
            record_ids: &[id],
        })?;
        Ok(Redirect::to(&format!("{back}?fait={done}")).into_response())
    })
    .await
}

fn refusable(e: &carnet_core::Error) -> bool {
    !matches!(
        e,
        carnet_core::Error::NotFound(_) | carnet_core::Error::Erased(_)
    )
}

/// The French notice for a `fait` code.
pub(crate) fn notice(fait: Option<&str>) -> Markup {
    let text = match fait {
        Some("consentement-donne") => "Consentement enregistré.",
        Some("consentement-retire") => "Consentement retiré.",
        Some("rectifie") => "Fiche rectifiée.",
        Some("conservation-prolongee") => "Conservation prolongée.",
        Some("efface") => "Fiche effacée.",
        _ => return html! {},
    };
    html! { p.warn role="status" { (text) } }
}

/// A core refusal in French.
pub(crate) fn refusal(e: &carnet_core::Error) -> String {
    let _ = MOUNT;
    format!("Les règles de l'équipe refusent ce changement : {e}")
}
