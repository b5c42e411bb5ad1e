//! The access log of the team, for supervisors to answer "who looked at
//! this?" (a resident's access request, an audit). Shows ids counts, never
//! content; reading it is not itself logged (it reveals no record).

use axum::response::Response;

use super::{Auth, State, html_response, with_store};
use crate::DashboardError;
use crate::html::{datetime, esc, table};

/// `/dashboard/journal`.
pub async fn page(axum::extract::State(st): State, auth: Auth) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let entries = ctx.st.log.recent(&ctx.session.supervisor.team_id, 200)?;
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let ids: Vec<String> = e.record_ids.iter().take(3).map(|i| format!("<code>{i}</code>")).collect();
                let more = if e.record_ids.len() > 3 { format!(" … (+{})", e.record_ids.len() - 3) } else { String::new() };
                vec![datetime(e.at), esc(&e.who), esc(&e.action), e.record_ids.len().to_string(), format!("{}{more}", ids.join(" "))]
            })
            .collect();
        let b = format!(
            "<h1>Journal des accès</h1><p class=\"muted\">Les 200 dernières lectures et exportations de fiches de l'équipe : qui, quand, quelles fiches (jamais leur contenu). Conservé {} jours.</p>{}",
            ctx.st.config.access_log_retention_days,
            table(&["Date", "Qui", "Action", "#Fiches", "Identifiants"], &rows)
        );
        Ok(html_response(ctx.page("Journal des accès", "/journal", &b)))
    })
    .await
}
