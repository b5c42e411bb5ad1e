//! `carnet photo add|list|get|remove`: the photos of a report or a note.
//! The core makes the photo (metadata stripped, upright, resized, thumbnail)
//! and stores it encrypted; `get` writes one to a file readable by its owner
//! only, fetching a full photo from the server when this device has only its
//! thumbnail.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use carnet_core::photo::{PhotoHash, PhotoInfo, Variant};
use carnet_core::sync::client::Client;
use carnet_core::{Error, RecordId, Store};
use serde_json::json;

use super::{parse_id, sync};
use crate::PhotoCmd;
use crate::error::{CliError, Result};
use crate::output::Output;

pub fn run(store: &Store, cmd: PhotoCmd, json: bool, ca_cert: Option<&Path>) -> Result<Output> {
    match cmd {
        PhotoCmd::Add { id, file } => add(store, parse_id(&id)?, &file),
        PhotoCmd::List { id } => list(store, parse_id(&id)?),
        PhotoCmd::Get {
            id,
            hash,
            out,
            thumbnail,
        } => {
            let variant = if thumbnail {
                Variant::Thumb
            } else {
                Variant::Full
            };
            let target = Target {
                id: parse_id(&id)?,
                hash: parse_hash(&hash)?,
                variant,
            };
            get(store, &target, &out, json, ca_cert)
        }
        PhotoCmd::Remove { id, hash } => remove(store, parse_id(&id)?, parse_hash(&hash)?),
    }
}

fn parse_hash(s: &str) -> Result<PhotoHash> {
    Ok(PhotoHash::parse(s)?)
}

fn add(store: &Store, id: RecordId, file: &Path) -> Result<Output> {
    // Said here, naming the file: the core's own message for a missing file
    // cannot know which one was meant.
    let reading = || CliError::io(format!("reading the photo {}", file.display()));
    let meta = std::fs::metadata(file).map_err(reading())?;
    if !meta.is_file() {
        return Err(reading()(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file: give the photo's file (JPEG or PNG)",
        )));
    }
    let photo = store.attach_photo_file(id, file)?;
    Ok(Output::new(
        json!({
            "id": id,
            "hash": photo.hash,
            "width": photo.width,
            "height": photo.height,
            "size": photo.size,
        }),
        format!(
            "photo added to {id}: {} ({}×{}, {})",
            photo.hash,
            photo.width,
            photo.height,
            sync::bytes(photo.size)
        ),
    ))
}

fn info_json(p: &PhotoInfo) -> serde_json::Value {
    json!({
        "hash": p.photo.hash,
        "thumb": p.photo.thumb,
        "size": p.photo.size,
        "thumb_size": p.photo.thumb_size,
        "width": p.photo.width,
        "height": p.photo.height,
        "added_at": p.photo.added_at,
        "has_full": p.has_full,
        "has_thumbnail": p.has_thumbnail,
        "uploaded": p.uploaded,
    })
}

fn info_line(p: &PhotoInfo) -> String {
    let held = match (p.has_full, p.has_thumbnail) {
        (true, _) => "full photo here",
        (false, true) => "thumbnail only (get fetches the full photo)",
        (false, false) => "not downloaded yet (sync)",
    };
    format!(
        "{}  {:>9}  {:>11}  {}  {}, {}",
        p.photo.hash,
        sync::bytes(p.photo.size),
        format!("{}×{}", p.photo.width, p.photo.height),
        crate::output::time(p.photo.added_at),
        held,
        if p.uploaded {
            "on the server"
        } else {
            "waiting to be sent"
        }
    )
}

fn list(store: &Store, id: RecordId) -> Result<Output> {
    let photos = store.photos(id)?;
    let text = if photos.is_empty() {
        format!("no photos on {id} (add one with `carnet photo add {id} FILE`)")
    } else {
        photos.iter().map(info_line).collect::<Vec<_>>().join("\n")
    };
    Ok(Output::new(
        json!({ "id": id, "photos": photos.iter().map(info_json).collect::<Vec<_>>() }),
        text,
    ))
}

/// The photo `get` writes.
struct Target {
    id: RecordId,
    hash: PhotoHash,
    variant: Variant,
}

fn get(
    store: &Store,
    t: &Target,
    out: &Path,
    json: bool,
    ca_cert: Option<&Path>,
) -> Result<Output> {
    let info = record_photo(store, t.id, t.hash)?;
    if t.variant == Variant::Full && !info.has_full {
        fetch(store, t, json, ca_cert)?;
    }
    let bytes = store.photo(t.hash, t.variant)?;
    write_private(out, &bytes)?;
    let what = match t.variant {
        Variant::Full => "photo",
        Variant::Thumb => "thumbnail",
    };
    Ok(Output::new(
        json!({
            "id": t.id,
            "hash": t.hash,
            "variant": t.variant,
            "bytes": bytes.len(),
            "out": out,
        }),
        format!(
            "{what} {} written to {} ({})",
            t.hash,
            out.display(),
            sync::bytes(bytes.len() as u64)
        ),
    ))
}

/// The photo `hash` of record `id`, or the core's word on why it is not
/// there (erased, or never on that record).
fn record_photo(store: &Store, id: RecordId, hash: PhotoHash) -> Result<PhotoInfo> {
    if let Some(info) = store.photos(id)?.into_iter().find(|p| p.photo.hash == hash) {
        return Ok(info);
    }
    // An erased photo says so; anything else is not this record's.
    match store.photo(hash, Variant::Thumb) {
        Err(e @ Error::PhotoErased(_)) => Err(e.into()),
        _ => Err(Error::PhotoNotFound(hash).into()),
    }
}

/// Downloads the full photo from the team's server.
fn fetch(store: &Store, t: &Target, json: bool, ca_cert: Option<&Path>) -> Result<()> {
    let Some(e) = store.enrollment()? else {
        return Err(CliError::PhotoNotHere(t.hash));
    };
    let client = Client::trusting(&e.server, &super::roots(ca_cert)?)?;
    let bar = sync::bar(json);
    let mut on_progress = |p: &carnet_core::sync::Progress| {
        if let Some(b) = &bar {
            b.set_message(sync::progress_message(p));
        }
    };
    let cancel = AtomicBool::new(false);
    let result = client.fetch_photo(store, &e.token, t.id, t.hash, &mut on_progress, &cancel);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let summary = result?;
    if summary.photos_received == 0 {
        return Err(CliError::PhotoNotOnServer(summary.photo_problem));
    }
    Ok(())
}

/// Writes `bytes` to `out` whole or not at all, readable by the owner only
/// (a photo of a dégradation may show a resident's door or car).
fn write_private(out: &Path, bytes: &[u8]) -> Result<()> {
    let what = || CliError::io(format!("writing {}", out.display()));
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".carnet-photo")
        .tempfile_in(dir)
        // Its own message names the temporary file: the cause is enough.
        .map_err(|e| what()(std::io::Error::from(e.kind())))?;
    tmp.write_all(bytes).map_err(what())?;
    tmp.as_file().sync_all().map_err(what())?;
    tmp.persist(out).map_err(|e| what()(e.error))?;
    Ok(())
}

fn remove(store: &Store, id: RecordId, hash: PhotoHash) -> Result<Output> {
    store.remove_photo(id, hash)?;
    Ok(Output::new(
        json!({ "id": id, "hash": hash, "removed": true }),
        format!(
            "photo {hash} removed from {id} and erased from this device; the next `carnet sync` erases it everywhere"
        ),
    ))
}
