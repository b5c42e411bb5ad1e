//! `/dashboard/signalements/{id}/fiche.pdf`: the fiche de signalement a
//! supervisor downloads from a report's page and sends the responsible
//! body (see `crate::fiche` for what it holds and how it is written).

use axum::extract::Path;
use axum::response::Response;
use carnet_core::Record;
use carnet_core::lifecycle::ReportStatus;
use carnet_core::model::Report;

use super::{Auth, Ctx, PDF, State, download, not_a_report, photos, report_id, with_store};
use crate::DashboardError;
use crate::fiche::{Fiche, Jpeg, PhotoCounts};
use crate::html::datetime;
use crate::labels::{self, Labels};

/// The fiche of report `id`, as a PDF download; logged like a page read.
pub async fn pdf(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let id = report_id(&id)?;
    with_store(st, auth, move |ctx| {
        let Record::Report(report) = ctx.store.get(id)? else {
            return Err(not_a_report());
        };
        let mut fiche = facts(ctx, &report)?;
        let photos = fetch_photos(ctx, &report, &mut fiche)?;
        ctx.log("fiche de signalement (PDF)", &[id])?;
        let bytes = fiche.render(&photos);
        Ok(download(
            bytes,
            PDF,
            &format!("fiche-signalement-{}.pdf", fiche.reference),
        ))
    })
    .await
}

/// Everything the fiche says but its photos, in French.
fn facts(ctx: &Ctx, r: &Report) -> Result<Fiche, DashboardError> {
    let cfg = ctx.store.config()?;
    let l = Labels(&cfg);
    let who = &ctx.session.supervisor;
    // The latest forwarding still standing in the replayed history.
    let forwarded = r
        .events
        .iter()
        .rev()
        .find(|e| e.applied && e.status == ReportStatus::Forwarded)
        .map(|e| {
            let mut s = format!(
                "{}, le {}",
                l.body(e.to.as_deref().or(r.body.as_deref()).unwrap_or("")),
                datetime(e.at)
            );
            if let Some(reference) = e.reference.as_deref().filter(|x| !x.trim().is_empty()) {
                s.push_str(&format!(" (votre référence : {reference})"));
            }
            s
        });
    Ok(Fiche {
        team: ctx.team_name.clone(),
        contact: ctx.st.config.team_contacts.get(&who.team_id).cloned(),
        reference: labels::reference(r.header.id),
        record_id: r.header.id.to_string(),
        category: l.category(&r.category),
        place: r.place.clone(),
        sector: l.sector(&r.sector),
        quartier: r
            .quartier
            .as_deref()
            .map(|q| l.quartier(q))
            .unwrap_or_default(),
        urgent: r.urgent,
        reported_at: datetime(r.header.created_at),
        status: labels::status(r.status).to_string(),
        forwarded,
        description: r.text.clone(),
        edited: format!("le {} par {}", datetime(carnet_core::now_ms()), who.name),
        photos: PhotoCounts::default(),
    })
}

/// The report's full photos the fiche has room for, oldest first, fetched
/// one at a time (never more than it shows); counts the rest in `fiche`.
fn fetch_photos(ctx: &Ctx, r: &Report, fiche: &mut Fiche) -> Result<Vec<Jpeg>, DashboardError> {
    let all = photos::ordered(&r.photos);
    let room = fiche.photo_capacity();
    let mut counts = PhotoCounts {
        total: all.len(),
        ..PhotoCounts::default()
    };
    let mut shown = Vec::new();
    for p in &all {
        if shown.len() == room {
            break;
        }
        match ctx
            .st
            .backend
            .photo(&ctx.session.supervisor.team_id, &p.hash)?
        {
            None => counts.not_received += 1,
            Some(bytes) => match Jpeg::read(bytes) {
                Some(jpeg) => shown.push(jpeg),
                None => counts.unreadable += 1,
            },
        }
    }
    fiche.photos = counts;
    Ok(shown)
}
