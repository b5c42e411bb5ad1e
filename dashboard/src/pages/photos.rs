//! A record's photos for supervisors: the thumbnails on a report's page,
//! each a plain link to the full photo (no script), and the route serving
//! both.
//!
//! There is no public photo URL: the route answers a signed-in supervisor
//! only, for a blob that a record of the supervisor's team names (as its
//! full photo or its thumbnail), the record's id being part of the URL.
//! A hash alone, however learnt, opens nothing. Full photos opened are
//! written to the access log; thumbnails are not, one by one: they show
//! on the report's page, whose read is logged already.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carnet_core::photo::{PhotoHash, PhotoRef, Variant};
use carnet_core::{Record, RecordId};

use super::{Auth, Ctx, State, with_store};
use crate::html::{Markup, date, html};
use crate::{DashboardError, MOUNT};

/// A record's photos, oldest first (the order they were taken in); none
/// for the kinds that take no photos.
pub(crate) fn of(record: &Record) -> Vec<PhotoRef> {
    match record {
        Record::Report(r) => ordered(&r.photos),
        Record::Note(n) => ordered(&n.photos),
        Record::Contact(_) | Record::Activity(_) => Vec::new(),
    }
}

/// `photos` oldest first, ties by hash, whatever order a document held them in.
pub(crate) fn ordered(photos: &[PhotoRef]) -> Vec<PhotoRef> {
    let mut photos = photos.to_vec();
    photos.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.hash.cmp(&b.hash)));
    photos
}

/// The URL of one of a report's photo blobs.
fn url(id: RecordId, blob: &PhotoHash) -> String {
    format!("{MOUNT}/signalements/{id}/photos/{blob}")
}

/// The report page's photo section: a thumbnail per photo, linking to the
/// full photo, or a placeholder while the thumbnail has not reached the
/// server.
pub(crate) fn gallery(
    ctx: &Ctx,
    id: RecordId,
    photos: &[PhotoRef],
) -> Result<Markup, DashboardError> {
    let team = &ctx.session.supervisor.team_id;
    // Which thumbnails the server has, looked up before the markup is written.
    let shown = photos
        .iter()
        .map(|p| Ok(ctx.st.backend.photo(team, &p.thumb)?.is_some()))
        .collect::<Result<Vec<bool>, DashboardError>>()?;
    let missing = shown.iter().any(|s| !s);
    Ok(html! {
        h2 { "Photos (" (photos.len()) ")" }
        @if photos.is_empty() {
            p.muted { "Aucune photo jointe à ce signalement." }
        } @else {
            div.photos {
                @for (i, (p, shown)) in photos.iter().zip(&shown).enumerate() {
                    @let n = i + 1;
                    @let caption = html! { "Photo " (n) " · ajoutée le " (date(p.added_at)) };
                    @if *shown {
                        figure.photo {
                            a href=(url(id, &p.hash)) title={ "Voir la photo " (n) " en grand" } {
                                img src=(url(id, &p.thumb)) alt={ "Photo " (n) " du signalement (miniature)" };
                            }
                            figcaption { (caption) }
                        }
                    } @else {
                        figure.photo.missing {
                            div.placeholder { "photo pas encore reçue" }
                            figcaption { (caption) }
                        }
                    }
                }
            }
            p.muted.noprint {
                "Cliquez sur une miniature pour voir la photo en grand."
                @if missing {
                    " Les photos manquantes arriveront à la prochaine synchronisation du téléphone du médiateur."
                }
            }
        }
    })
}

/// `/dashboard/signalements/{id}/photos/{blob}`: one of the record's photos
/// (full or thumbnail), as JPEG, never cached.
pub async fn photo(
    axum::extract::State(st): State,
    auth: Auth,
    Path((id, blob)): Path<(String, String)>,
) -> Result<Response, DashboardError> {
    let not_found = || {
        DashboardError::NotFound(
            "cette photo n'appartient à aucun signalement de votre équipe".into(),
        )
    };
    let id: RecordId = id.parse().map_err(|_| not_found())?;
    let blob = PhotoHash::parse(&blob).map_err(|_| not_found())?;
    with_store(st, auth, move |ctx| {
        let record = ctx.store.get(id)?;
        let variant = of(&record)
            .iter()
            .find_map(|p| {
                if p.hash == blob {
                    Some(Variant::Full)
                } else if p.thumb == blob {
                    Some(Variant::Thumb)
                } else {
                    None
                }
            })
            .ok_or_else(not_found)?;
        let bytes = ctx
            .st
            .backend
            .photo(&ctx.session.supervisor.team_id, &blob)?
            .ok_or_else(|| {
                DashboardError::NotFound(
                    "photo pas encore reçue : le téléphone du médiateur l'enverra à sa prochaine synchronisation".into(),
                )
            })?;
        if variant == Variant::Full {
            ctx.log("photo de signalement", &[id])?;
        }
        Ok(jpeg(bytes))
    })
    .await
}

/// A photo's bytes with the pages' security headers, for this browser
/// only and never stored.
fn jpeg(bytes: Vec<u8>) -> Response {
    let mut resp = (StatusCode::OK, crate::html::security_headers(), bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_show_oldest_first_whatever_the_document_s_order() {
        let p = |seed: &[u8], added_at| PhotoRef {
            hash: PhotoHash::of(seed),
            thumb: PhotoHash::of(&[seed, b"t"].concat()),
            size: 1,
            thumb_size: 1,
            width: 1,
            height: 1,
            added_at,
        };
        let (a, b, c) = (p(b"a", 30), p(b"b", 10), p(b"c", 20));
        let got: Vec<i64> = ordered(&[a, b, c]).iter().map(|p| p.added_at).collect();
        assert_eq!(got, [10, 20, 30]);
        let (x, y) = (p(b"x", 5), p(b"y", 5));
        let first = x.hash.min(y.hash);
        assert_eq!(ordered(&[x.clone(), y.clone()])[0].hash, first);
        assert_eq!(ordered(&[y, x])[0].hash, first);
    }
}
