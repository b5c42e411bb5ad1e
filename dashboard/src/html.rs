//! Markup helpers: the page frame with its inline CSS, tables and French
//! number and date formats. Pages are written with maud's `html!`, which
//! escapes every value it splices in: a value typed on a phone can never
//! become markup (see docs/architecture.md, "Dashboard pages: maud").

use std::fmt::Write;
use std::sync::OnceLock;

use maud::DOCTYPE;
pub use maud::{Markup, PreEscaped, Render, html};

use axum::http::{HeaderName, HeaderValue, header};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::MOUNT;

/// Headers every page carries: no caching of records, nothing loaded from
/// elsewhere, no framing, no referrer leaking ids.
pub fn security_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
}

const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;background:#f5f6f8}
header{background:#1f4e79;color:#fff;padding:.6rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header .brand{font-weight:700;margin-right:1rem}header a{color:#fff;text-decoration:none;padding:.2rem .5rem;border-radius:4px}
header a.on,header a:hover{background:rgba(255,255,255,.2)}header .who{margin-left:auto;font-size:.9em}
header form{display:inline}header button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;padding:.15rem .5rem;cursor:pointer}
main{padding:1rem 1.2rem;max-width:1200px}h1{font-size:1.5rem;margin:.3rem 0 1rem}h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
table{border-collapse:collapse;background:#fff;margin:.4rem 0 1rem;width:100%}th,td{border:1px solid #d5dae1;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#e9edf2}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.late td{background:#fdecea}
.badge{display:inline-block;padding:0 .4rem;border-radius:3px;background:#e9edf2;font-size:.85em}.badge.late{background:#c0392b;color:#fff}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:.5rem 0 1rem}.card{background:#fff;border:1px solid #d5dae1;border-radius:6px;padding:.6rem .9rem;min-width:10rem}
.card b{display:block;font-size:1.5rem}form.filters{background:#fff;border:1px solid #d5dae1;padding:.6rem;border-radius:6px;display:flex;flex-wrap:wrap;gap:.6rem;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:.85em}input,select,button{font:inherit;padding:.25rem .4rem}
.btn{display:inline-block;background:#1f4e79;color:#fff;border:0;border-radius:4px;padding:.35rem .8rem;text-decoration:none;cursor:pointer}
.muted{color:#5b6776}.warn{background:#fff4e5;border:1px solid #f0c36d;padding:.6rem;border-radius:6px}.chart{background:#fff;border:1px solid #d5dae1;margin:.4rem 0 1rem}
.pager a{margin-right:.8rem}
.photos{display:flex;flex-wrap:wrap;gap:.8rem;margin:.4rem 0 1rem}.photos figure{margin:0;background:#fff;border:1px solid #d5dae1;border-radius:6px;padding:.4rem}
.photos img{display:block;max-width:240px;max-height:240px}.photos figcaption{font-size:.85em;color:#5b6776;margin-top:.3rem}
.photos .placeholder{width:240px;height:160px;display:flex;align-items:center;justify-content:center;background:#e9edf2;color:#5b6776;border-radius:4px}
@media print{header,form,.noprint{display:none!important}body{background:#fff}main{max-width:none;padding:0}table{page-break-inside:auto}tr{page-break-inside:avoid}}
"#;

/// The `<head>` and the header's brand, the same on every page.
fn frame(title: &str, header: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) " · Carnet" }
                // Trusted: a constant of this file, never data.
                style { (PreEscaped(CSS)) }
            }
            body {
                header { (header) }
                main { (body) }
            }
        }
    }
}

/// A page without navigation: sign-in and errors.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    frame(title, html! { span.brand { "Carnet · supervision" } }, body)
}

/// The navigation entries: path under [`MOUNT`] and label.
const NAV: [(&str, &str); 10] = [
    ("/degradations", "Dégradations ouvertes"),
    ("/retards", "En retard"),
    ("/delais", "Délais de résolution"),
    ("/activite", "Activité"),
    ("/rapport", "Rapport financeurs"),
    ("/exports", "Exports"),
    ("/habitants", "Habitants"),
    ("/journal", "Journal des accès"),
    ("/equipe", "Équipe"),
    ("/compte", "Mon compte"),
];

/// Who is looking, for the header and its sign-out form.
pub struct Viewer<'a> {
    /// Shown in the header.
    pub name: &'a str,
    /// The team's name.
    pub team: &'a str,
    /// The session's CSRF token, put in every POST form.
    pub csrf: &'a str,
}

/// A full page with the navigation, `active` being one of the nav paths.
pub fn page(title: &str, active: &str, viewer: &Viewer<'_>, body: Markup) -> Markup {
    let header = html! {
        span.brand { "Carnet · " (viewer.team) }
        @for (path, label) in NAV {
            a href={ (MOUNT) (path) } class=[(path == active).then_some("on")] { (label) }
        }
        span.who {
            (viewer.name) " "
            form method="post" action={ (MOUNT) "/deconnexion" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                button type="submit" { "Se déconnecter" }
            }
        }
    };
    frame(title, header, body)
}

/// A table: header cells (a leading `#` marks a numeric column) and rows of
/// cells; an empty table says so.
pub fn table(headers: &[&str], rows: &[Vec<Markup>]) -> Markup {
    let numeric: Vec<bool> = headers.iter().map(|h| h.starts_with('#')).collect();
    html! {
        table {
            thead {
                tr {
                    @for h in headers {
                        @match h.strip_prefix('#') {
                            Some(label) => { th.n { (label) } }
                            None => { th { (h) } }
                        }
                    }
                }
            }
            tbody {
                @if rows.is_empty() {
                    tr { td colspan=(headers.len()) class="muted" { "Aucune donnée sur la période." } }
                }
                @for row in rows {
                    tr {
                        @for (i, cell) in row.iter().enumerate() {
                            td class=[numeric.get(i).copied().unwrap_or(false).then_some("n")] { (cell) }
                        }
                    }
                }
            }
        }
    }
}

/// The time zone dates are shown in: the team is in France. Falls back to
/// UTC where the system has no time zone database.
pub fn tz() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get("Europe/Paris").unwrap_or(TimeZone::UTC))
}

/// `31/12/2025`.
pub fn date(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz().clone()).strftime("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

/// `31/12/2025 14:05`.
pub fn datetime(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz().clone())
                .strftime("%d/%m/%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A number of days with one decimal and a French comma: `2,5`.
pub fn days(d: f64) -> String {
    format!("{d:.1}").replace('.', ",")
}

/// A whole number with thin spaces between thousands: `12 345`.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A query-string value, percent-encoded.
pub fn url_enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `<option>`s for a select, the current value selected.
pub fn options(items: &[(String, String)], current: Option<&str>, empty_label: &str) -> Markup {
    html! {
        option value="" { (empty_label) }
        @for (code, label) in items {
            option value=(code) selected[current == Some(code.as_str())] { (label) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_formats_french() {
        assert_eq!(days(2.25), "2,2");
        assert_eq!(int(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(url_enc("a b&é"), "a%20b%26%C3%A9");
    }

    #[test]
    fn the_frame_tables_and_options_escape_what_they_are_given() {
        let t = table(&["#N", "<b>"], &[vec![1.render(), "<i>".render()]]).into_string();
        assert!(
            t.contains("<th class=\"n\">N</th><th>&lt;b&gt;</th>"),
            "{t}"
        );
        assert!(
            t.contains("<td class=\"n\">1</td><td>&lt;i&gt;</td>"),
            "{t}"
        );
        let empty = table(&["A", "B"], &[]).into_string();
        assert!(
            empty.contains("<td colspan=\"2\" class=\"muted\">Aucune donnée"),
            "{empty}"
        );

        let o = options(&[("a\"".into(), "<x>".into())], Some("a\""), "Tous").into_string();
        assert_eq!(
            o,
            "<option value=\"\">Tous</option><option value=\"a&quot;\" selected>&lt;x&gt;</option>"
        );

        let who = Viewer {
            name: "<n>",
            team: "<t>",
            csrf: "\"c",
        };
        let p = page("<p>", "/retards", &who, html! { "<body>" }).into_string();
        assert!(p.starts_with("<!DOCTYPE html><html lang=\"fr\">"), "{p}");
        assert!(p.contains("<title>&lt;p&gt; · Carnet</title>"), "{p}");
        assert!(
            p.contains("Carnet · &lt;t&gt;") && p.contains("&lt;n&gt; <form"),
            "{p}"
        );
        assert!(p.contains("name=\"csrf\" value=\"&quot;c\""), "{p}");
        assert!(p.contains("<main>&lt;body&gt;</main>"), "{p}");
        assert!(
            p.contains("href=\"/dashboard/retards\" class=\"on\">En retard</a>"),
            "{p}"
        );
        assert!(p.contains("href=\"/dashboard/delais\">Délais"), "{p}");
        assert_eq!(p.matches("class=\"on\"").count(), 1, "{p}");
    }
}
