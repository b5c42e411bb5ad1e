//! Recording: `note add`, `report add`, `report status`, `comment`,
//! `contact add|log|erase`, `consent give|withdraw`, `activity add`. Flags become the core's field map; the core validates it
//! against the team's configuration and writes nothing when it refuses.

use carnet_core::consent::Purpose;
use carnet_core::edit::Action;
use carnet_core::store::StatusChange;
use carnet_core::{Kind, ReportStatus, Store};
use serde_json::json;

use super::{Fields, created, parse_id};
use crate::error::Result;
use crate::output::Output;
use crate::{
    ActivityAdd, CommentArgs, ConsentArgs, ContactAdd, ContactLog, NoteAdd, ReportAdd,
    ReportStatusArgs,
};

pub fn note_add(store: &Store, a: NoteAdd) -> Result<Output> {
    let f = Fields::default()
        .set("sector", a.sector)
        .set("text", a.text)
        .opt("quartier", a.quartier)
        .opt("place", a.place)
        .opt("lat", a.lat)
        .opt("lon", a.lon)
        .opt("observed_at", a.at)
        .opt("residents_met", a.met)
        .list("axes", a.axes)
        .list("tags", a.tags)
        .list("team", a.team);
    Ok(created("note", store.create(Kind::Note, &f.0)?))
}

pub fn report_add(store: &Store, a: ReportAdd) -> Result<Output> {
    // With no axis given, the core files the report under cadre de vie.
    let f = Fields::default()
        .set("sector", a.sector)
        .set("category", a.category)
        .set("place", a.place)
        .set("text", a.text)
        .set("urgent", a.urgent)
        .opt("quartier", a.quartier)
        .opt("body", a.body)
        .opt("lat", a.lat)
        .opt("lon", a.lon)
        .list("axes", a.axes);
    Ok(created("report", store.create(Kind::Report, &f.0)?))
}

pub fn report_status(store: &Store, a: ReportStatusArgs) -> Result<Output> {
    let id = parse_id(&a.id)?;
    let status: ReportStatus = a.status.parse()?;
    let change = StatusChange {
        status: Some(status),
        to: a.to,
        reference: a.reference,
        comment: a.comment,
        duplicate_of: a.duplicate_of.as_deref().map(parse_id).transpose()?,
    };
    store.change_status(id, &change)?;
    let Ok(carnet_core::Record::Report(r)) = store.get(id) else {
        return Ok(Output::new(
            json!({ "id": id }),
            format!("report {id} updated"),
        ));
    };
    let text = if r.status == status {
        format!("report {id} is now {}", r.status)
    } else {
        // A concurrent change received earlier can make the new event not
        // apply at its place in the replay order: say so.
        format!(
            "report {id}: {status} recorded, but the report stays {} (see `carnet show {id}`)",
            r.status
        )
    };
    Ok(Output::new(
        json!({ "id": id, "status": r.status, "body": r.body }),
        text,
    ))
}

pub fn contact_add(store: &Store, a: ContactAdd) -> Result<Output> {
    let f = Fields::default()
        .set("name", a.name)
        .opt("phone", a.phone)
        .opt("address", a.address)
        .opt("building", a.building)
        .opt("flat", a.flat)
        .opt("household", a.household)
        .opt("sector", a.sector)
        .opt("landlord", a.landlord)
        .list("languages", a.languages)
        .list("topics", a.topics)
        .list("consents", a.consents);
    let f = if a.new_tenant_visit {
        f.set("new_tenant_visit", true)
    } else {
        f
    };
    Ok(created("contact", store.create(Kind::Contact, &f.0)?))
}

pub fn contact_log(store: &Store, a: ContactLog) -> Result<Output> {
    let id = parse_id(&a.id)?;
    store.add_interaction(id, &a.text, a.referral.as_deref())?;
    Ok(Output::new(
        json!({ "id": id }),
        format!("interaction added to contact {id}"),
    ))
}

pub fn comment(store: &Store, a: CommentArgs) -> Result<Output> {
    let id = parse_id(&a.id)?;
    store.act(id, &Action::Comment { text: a.text })?;
    Ok(Output::new(
        json!({ "id": id }),
        format!("comment added to report {id}"),
    ))
}

pub fn consent(store: &Store, a: ConsentArgs, give: bool) -> Result<Output> {
    let id = parse_id(&a.id)?;
    let purpose: Purpose = a.purpose.parse()?;
    let (action, done) = if give {
        (Action::GiveConsent { purpose }, "given")
    } else {
        (Action::WithdrawConsent { purpose }, "withdrawn")
    };
    store.act(id, &action)?;
    Ok(Output::new(
        json!({ "id": id, "purpose": purpose, "given": give }),
        format!("consent « {} » {done} for contact {id}", purpose.label()),
    ))
}

pub fn contact_erase(store: &Store, id: &str) -> Result<Output> {
    let id = parse_id(id)?;
    store.erase(id)?;
    Ok(Output::new(
        json!({ "id": id, "erased": true }),
        format!(
            "contact {id} erased from this device; the next `carnet sync` erases it everywhere"
        ),
    ))
}

pub fn activity_add(store: &Store, a: ActivityAdd) -> Result<Output> {
    let f = Fields::default()
        .set("activity_type", a.activity_type)
        .set("sector", a.sector)
        .opt("quartier", a.quartier)
        .opt("place", a.place)
        .opt("started_at", a.started)
        .opt("ended_at", a.ended)
        .opt("met_known", a.met)
        .opt("met_new", a.new_contacts)
        .opt("referrals", a.referrals)
        .opt("text", a.text)
        .list("team", a.team)
        .list("topics", a.topics)
        .list("partners", a.partners)
        .list("axes", a.axes);
    Ok(created("activity", store.create(Kind::Activity, &f.0)?))
}
