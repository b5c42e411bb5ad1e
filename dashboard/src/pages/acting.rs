//! Supervisors acting on records: every form that changes a record posts
//! here through [`act`], which checks the form's CSRF token, has the server
//! make the change with the core ([`crate::Backend::act`]: the account's
//! actor, the same rules as a phone's push), writes it to the access log,
//! and answers in French — a redirect to the record's page with a notice
//! (`?fait=…`, so that reloading the page does not post again), or the
//! reason the rules refused it, with nothing changed.
//!
//! Conflicts (two values written offline to one field) are settled here
//! too, for any kind of record: choosing one of the values, or writing a
//! new one, is a write of the field, which resolves it on every device.

use std::sync::Arc;

use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_core::doc::Conflict;
use carnet_core::edit::Action;
use carnet_core::schema::FieldType;
use carnet_core::{Error, Kind, Record, RecordId};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::{AppState, Auth, State, blocking, nonempty};
use crate::access_log::Access;
use crate::{DashboardError, MOUNT, labels};

/// What each `fait` code tells the supervisor once the change is made.
const NOTICES: &[(&str, &str)] = &[
    (
        "transmis",
        "Signalement transmis à l'organisme responsable. Les téléphones de l'équipe le verront à leur prochaine synchronisation.",
    ),
    ("statut", "Statut du signalement mis à jour."),
    (
        "cloture",
        "Signalement clôturé après vérification sur place.",
    ),
    ("commentaire", "Commentaire ajouté."),
    (
        "conflit",
        "Conflit tranché : la valeur retenue est enregistrée et remplacera les autres sur chaque téléphone à sa prochaine synchronisation.",
    ),
    ("consentement-donne", "Consentement enregistré."),
    (
        "consentement-retire",
        "Consentement retiré (le numéro de téléphone est supprimé si c'était celui du contact par téléphone).",
    ),
    ("rectifie", "Fiche rectifiée."),
    (
        "conservation-prolongee",
        "Durée de conservation prolongée ; le motif est inscrit au journal des accès.",
    ),
    ("efface", "Fiche effacée."),
];

/// The French notice for a `fait` code, to put at the top of the page;
/// nothing for no code or an unknown one.
pub(crate) fn notice(fait: Option<&str>) -> Markup {
    let text = fait.and_then(|f| NOTICES.iter().find(|(code, _)| *code == f).map(|(_, t)| *t));
    html! {
        @if let Some(text) = text {
            p.notice.ok #notice role="status" { (text) }
        }
    }
}

/// A field's French name, for a refusal.
fn field_name(field: &str) -> String {
    [Kind::Report, Kind::Contact, Kind::Note, Kind::Activity]
        .into_iter()
        .find_map(|k| k.field(field).ok().map(|f| f.label.to_string()))
        .unwrap_or_else(|| match field {
            "to" => "organisme responsable".into(),
            "ref" => "référence".into(),
            "duplicate_of" => "signalement d'origine".into(),
            "referral" => "orientation".into(),
            "purpose" => "consentement".into(),
            other => other.into(),
        })
}

/// Why the core refused a supervisor's change, in French. The core's
/// reasons name fields and rules, never values, so nothing of a resident
/// is repeated back.
pub(crate) fn refusal(e: &Error) -> String {
    match e {
        Error::InvalidTransition { from, to } => {
            let allowed: Vec<&str> = from.allowed_next().iter().map(|s| s.label()).collect();
            format!(
                "Ce signalement est « {} » : il ne peut pas passer à « {} ». Depuis ce statut, il peut passer à : {}.",
                from.label(),
                to.label(),
                allowed.join(", ")
            )
        }
        Error::Invalid { field, .. } if field == "phone" => {
            "Un numéro de téléphone n'est gardé qu'avec le consentement de l'habitant à être appelé (« contact par téléphone ») : enregistrez d'abord ce consentement.".into()
        }
        Error::Invalid { field, .. } if field == "referral" => {
            "Une orientation vers un partenaire demande le consentement de l'habitant (« orientation vers un partenaire ») : enregistrez d'abord ce consentement.".into()
        }
        Error::Invalid { field, .. } if field == "to" => {
            "Choisissez l'organisme responsable dans la liste de l'équipe.".into()
        }
        Error::Invalid { field, .. } if field == "duplicate_of" => {
            "Un doublon doit désigner un autre signalement de l'équipe (sa référence SIG-… ou son identifiant).".into()
        }
        Error::Invalid { field, reason } => format!(
            "Modification refusée par les règles de l'équipe (« {} ») : {reason}.",
            field_name(field)
        ),
        Error::NotFound(_) => "Cette fiche n'existe pas ou plus dans l'équipe.".into(),
        Error::Erased(_) => "Cette fiche a été effacée : elle ne peut plus être modifiée.".into(),
        Error::Refused { reason, .. } => {
            format!("Modification refusée par les règles de l'équipe : {reason}.")
        }
        _ => "La modification n'a pas pu être enregistrée ; réessayez, et signalez-le si cela se reproduit.".into(),
    }
}

/// Makes `action` on record `id` for the signed-in supervisor: checks the
/// form's `csrf`, applies it through the backend, logs `what` on the
/// record's id, and answers `303` to `{back}?fait={done}`, or a French
/// refusal (422) with nothing changed — also logged, so the access log
/// shows attempts as well as changes.
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
    let outcome = blocking(&permits, move || {
        let who = &auth.session.supervisor;
        let (result, logged) = match st.backend.act(who, id, &action) {
            Ok(()) => (Ok(()), what),
            Err(DashboardError::Core(e)) => (Err(refusal(&e)), format!("{what} — refusé")),
            Err(e) => return Err(e),
        };
        st.log.record(&Access {
            team_id: &who.team_id,
            device_id: &who.account_id,
            person: &who.name,
            client: &auth.client,
            action: &logged,
            record_ids: &[id],
        })?;
        Ok(result)
    })
    .await?;
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("{back}?fait={done}")).into_response()),
        Err(reason) => Err(DashboardError::Refused(reason)),
    }
}

/// Where a record's page is, by its kind: a settled conflict goes back there.
pub(crate) fn record_page(kind: Kind, id: RecordId) -> String {
    match kind {
        Kind::Report => format!("{MOUNT}/signalements/{id}"),
        Kind::Contact => format!("{MOUNT}/habitants/{id}"),
        Kind::Note | Kind::Activity => format!("{MOUNT}/fiches/{id}"),
    }
}

/// A conflict's value as a person reads it.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "oui".into(),
        Value::Bool(false) => "non".into(),
        Value::Null => "(vide)".into(),
        other => other.to_string(),
    }
}

/// The conflicts of a record as forms: for each field, one choice per
/// value written offline, or a new value; "Trancher" writes it.
pub(crate) fn conflicts_section(
    kind: Kind,
    id: RecordId,
    conflicts: &[Conflict],
    csrf: &str,
) -> Markup {
    html! {
        @if !conflicts.is_empty() {
            section #conflits {
                h2 { "Conflits à trancher" }
                p.muted { "Deux personnes ont écrit des valeurs différentes hors connexion ; la première est celle affichée partout. Choisissez la bonne, ou écrivez-en une nouvelle : elle remplacera les autres sur chaque téléphone." }
                @for c in conflicts {
                    form.conflit method="post" action={ (MOUNT) "/fiches/" (id.to_string()) "/conflit" } {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="field" value=(c.field);
                        fieldset {
                            legend { (kind.field_label(&c.field)) }
                            @for (i, v) in c.values.iter().enumerate() {
                                label { input type="radio" name="choix" value=(i) checked[i == 0]; " " (shown(v)) } br;
                            }
                            label { "ou une nouvelle valeur : " input type="text" name="valeur" maxlength="2000"; }
                            " "
                            button.btn type="submit" { "Trancher" }
                        }
                    }
                }
            }
        }
    }
}

/// The conflict form.
#[derive(Deserialize)]
pub struct ConflictForm {
    csrf: String,
    field: String,
    choix: Option<usize>,
    valeur: Option<String>,
}

/// A new value typed for a field: read as the field's type (a number, yes
/// or no), the core then checks it as any other write.
fn typed(ty: FieldType, text: &str) -> Value {
    let t = text.trim();
    match ty {
        FieldType::Bool => Value::Bool(matches!(t.to_lowercase().as_str(), "oui" | "true" | "1")),
        FieldType::Int { .. } => t
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(t)),
        FieldType::Lat | FieldType::Lon => t
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number))
            .unwrap_or_else(|| Value::from(t)),
        _ => Value::from(t),
    }
}

/// `POST /dashboard/fiches/{id}/conflit`: settles one field's conflict.
pub async fn settle(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Form(form): Form<ConflictForm>,
) -> Result<Response, DashboardError> {
    let id: RecordId = id
        .parse()
        .map_err(|_| DashboardError::NotFound("fiche introuvable".into()))?;
    auth.check_csrf(&form.csrf)?;
    let permits = st.config.storage_permits.clone();
    let (st2, team) = (st.clone(), auth.session.supervisor.team_id.clone());
    let field = form.field.clone();
    let (kind, conflict) = blocking(&permits, move || {
        let d = st2.backend.team(&team)?.details(id)?;
        let kind = match &d.record {
            Record::Note(_) => Kind::Note,
            Record::Report(_) => Kind::Report,
            Record::Contact(_) => Kind::Contact,
            Record::Activity(_) => Kind::Activity,
        };
        Ok((kind, d.conflicts.into_iter().find(|c| c.field == field)))
    })
    .await?;
    let back = record_page(kind, id);
    let Some(conflict) = conflict else {
        // Settled meanwhile (by a phone or another supervisor).
        return Ok(Redirect::to(&format!("{back}?fait=conflit")).into_response());
    };
    let value = match (nonempty(&form.valeur), form.choix) {
        (Some(text), _) => {
            let ty = kind
                .field(&conflict.field)
                .map_err(|_| DashboardError::BadRequest("champ inconnu".into()))?
                .ty;
            typed(ty, &text)
        }
        (None, Some(i)) => conflict.values.get(i).cloned().ok_or_else(|| {
            DashboardError::BadRequest("choisissez une des valeurs proposées".into())
        })?,
        (None, None) => {
            return Err(DashboardError::BadRequest(
                "choisissez une valeur ou écrivez-en une nouvelle".into(),
            ));
        }
    };
    let what = format!("conflit tranché ({})", kind.field_label(&conflict.field));
    let action = Action::SetField {
        field: conflict.field,
        value,
    };
    act(st, auth, form.csrf, id, action, what, back, "conflit").await
}

/// The report's status form: a move, with what each move needs.
#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    status: String,
    to: Option<String>,
    reference: Option<String>,
    comment: Option<String>,
    duplicate_of: Option<String>,
}

/// The comment form.
#[derive(Deserialize)]
pub struct CommentForm {
    csrf: String,
    text: String,
}

/// Reads the report a duplicate points to: its full id, or the `SIG-…`
/// reference its page and fiche print (looked up among the team's reports).
fn duplicate_target(st: &AppState, team: &str, given: &str) -> Result<RecordId, DashboardError> {
    let given = given.trim();
    if let Ok(id) = given.parse::<RecordId>() {
        return Ok(id);
    }
    let wanted = given.to_uppercase();
    let store = st.backend.team(team)?;
    let mut q = carnet_core::store::Query {
        kind: Some(Kind::Report),
        limit: Some(1000),
        ..Default::default()
    };
    loop {
        let page = store.list(&q)?;
        if let Some(r) = page
            .items
            .iter()
            .map(|r| r.header().id)
            .find(|id| labels::reference(*id) == wanted)
        {
            return Ok(r);
        }
        if !page.has_more {
            return Err(DashboardError::Refused(
                "Aucun signalement de l'équipe ne porte cette référence : indiquez la référence SIG-… du signalement d'origine (sur sa page) ou son identifiant.".into(),
            ));
        }
        q.offset += 1000;
    }
}

/// `POST /dashboard/signalements/{id}/statut`: forwards a report, sets it
/// in progress, resolved, closed after the on-site check, rejected, a
/// duplicate of another, or reopens it — the lifecycle the phones follow.
pub async fn status(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, DashboardError> {
    let id = super::report_id(&id)?;
    let to: carnet_core::ReportStatus = form
        .status
        .parse()
        .map_err(|_| DashboardError::BadRequest("statut inconnu".into()))?;
    auth.check_csrf(&form.csrf)?;
    let duplicate_of = match nonempty(&form.duplicate_of) {
        Some(given) => {
            let (st2, team) = (st.clone(), auth.session.supervisor.team_id.clone());
            let permits = st.config.storage_permits.clone();
            Some(blocking(&permits, move || duplicate_target(&st2, &team, &given)).await?)
        }
        None => None,
    };
    let change = carnet_core::store::StatusChange {
        status: Some(to),
        to: nonempty(&form.to),
        reference: nonempty(&form.reference),
        comment: nonempty(&form.comment),
        duplicate_of,
    };
    let (what, done) = match to {
        carnet_core::ReportStatus::Forwarded => ("signalement transmis".to_string(), "transmis"),
        carnet_core::ReportStatus::Closed => ("signalement clôturé".to_string(), "cloture"),
        s => (format!("statut du signalement : {}", s.label()), "statut"),
    };
    let back = format!("{MOUNT}/signalements/{id}");
    act(
        st,
        auth,
        form.csrf,
        id,
        Action::Status(change),
        what,
        back,
        done,
    )
    .await
}

/// `POST /dashboard/signalements/{id}/commentaire`: a comment on a report.
pub async fn comment(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response, DashboardError> {
    let id = super::report_id(&id)?;
    let back = format!("{MOUNT}/signalements/{id}");
    let action = Action::Comment { text: form.text };
    act(
        st,
        auth,
        form.csrf,
        id,
        action,
        "commentaire sur le signalement".into(),
        back,
        "commentaire",
    )
    .await
}
