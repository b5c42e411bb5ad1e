//! Activity over a period: per mission axis, sector, activity type and
//! month; the *aller vers* sessions with residents met (known / new); and
//! referrals to partners. Counters come from one pass over the read model
//! (the core's aggregates), so a year of a large team stays fast.

use std::collections::BTreeMap;

use axum::extract::Query as Q;
use axum::response::Response;
use carnet_core::store::Query;
use carnet_core::{Kind, Record};

use super::{Auth, State, html_response, with_store};
use crate::html::{Markup, Render, datetime, html, int, table};
use crate::labels::Labels;
use crate::period::{Period, PeriodQuery};
use crate::{DashboardError, svg};
use carnet_core::schema::{ACTIVITY_TYPES, activity_type_label};

/// `/dashboard/activite`.
pub async fn page(
    axum::extract::State(st): State,
    auth: Auth,
    Q(pq): Q<PeriodQuery>,
) -> Result<Response, DashboardError> {
    let p = pq.resolve()?;
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let (acts, partners, by_axis) = ctx.cached(&format!("activité {}", p.query()), || {
            let axes: BTreeMap<String, u64> = ctx.store.axes_by_kind(p.since, p.until)?.into_iter().filter(|((k, _), _)| k == "activity").map(|((_, a), n)| (a, n)).collect();
            Ok((ctx.store.activity_rows(p.since, p.until)?, ctx.store.referrals_by_partner(p.since, p.until)?, axes))
        })?;
        let q = Query { kind: Some(Kind::Activity), since: Some(p.since), until: Some(p.until), ..Default::default() };
        let sessions = ctx.store.list(&Query { activity_type: Some("aller_vers".into()), limit: Some(50), ..q.clone() })?;
        let ids: Vec<_> = sessions.items.iter().map(|r| r.header().id).collect();
        ctx.log(&format!("page activité {}", p.query()), &ids)?;

        let known: i64 = acts.iter().map(|a| a.met_known).sum();
        let new: i64 = acts.iter().map(|a| a.met_new).sum();
        let referrals: i64 = acts.iter().map(|a| a.referrals).sum();
        let av: Vec<_> = acts.iter().filter(|a| a.activity_type == "aller_vers").collect();
        let cards = [
            ("Activités", acts.len() as i64),
            ("Sessions aller vers", av.len() as i64),
            ("Habitants déjà connus", known),
            ("Habitants nouveaux", new),
            ("Orientations", referrals + partners.iter().map(|(_, n)| *n as i64).sum::<i64>()),
        ];

        let months = p.months();
        let series: Vec<&str> = ACTIVITY_TYPES.iter().map(|(_, l)| *l).collect();
        let mut per_month: BTreeMap<String, Vec<f64>> = months.iter().map(|(m, _, _)| (m.clone(), vec![0.0; ACTIVITY_TYPES.len()])).collect();
        for a in &acts {
            if let (Some(v), Some(i)) = (per_month.get_mut(&Period::month_of(a.at)), ACTIVITY_TYPES.iter().position(|(c, _)| *c == a.activity_type)) {
                v[i] += 1.0;
            }
        }
        let cols: Vec<(String, Vec<f64>)> = per_month.iter().map(|(m, v)| (m.clone(), v.clone())).collect();
        let mut h: Vec<&str> = vec!["Mois"];
        h.extend(ACTIVITY_TYPES.iter().map(|(_, l)| *l));
        h.push("#Total");
        let header: Vec<String> = h.iter().enumerate().map(|(i, s)| if i > 0 && !s.starts_with('#') { format!("#{s}") } else { s.to_string() }).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let month_rows: Vec<Vec<Markup>> = cols
            .iter()
            .map(|(m, v)| {
                let mut r = vec![m.render()];
                r.extend(v.iter().map(|x| int(*x as u64).render()));
                r.push(int(v.iter().sum::<f64>() as u64).render());
                r
            })
            .collect();

        let axis_rows: Vec<(String, Vec<f64>)> = l.axes().into_iter().map(|(c, lab)| (lab, vec![by_axis.get(&c).copied().unwrap_or(0) as f64])).collect();
        let axis_table: Vec<Vec<Markup>> = axis_rows.iter().map(|(lab, v)| vec![lab.render(), int(v[0] as u64).render()]).collect();

        let mut by_sector: BTreeMap<String, [i64; 4]> = l.sectors().into_iter().map(|(c, _)| (c, [0; 4])).collect();
        for a in &acts {
            let e = by_sector.entry(a.sector.clone()).or_default();
            e[0] += 1;
            e[1] += a.met_known;
            e[2] += a.met_new;
            e[3] += a.referrals;
        }
        let sector_rows: Vec<Vec<Markup>> = by_sector.iter().map(|(c, v)| vec![l.sector(c).render(), int(v[0] as u64).render(), int(v[1].max(0) as u64).render(), int(v[2].max(0) as u64).render(), int(v[3].max(0) as u64).render()]).collect();

        let type_rows: Vec<Vec<Markup>> = ACTIVITY_TYPES
            .iter()
            .map(|(c, lab)| {
                let of: Vec<_> = acts.iter().filter(|a| a.activity_type == *c).collect();
                vec![lab.render(), int(of.len() as u64).render(), int(of.iter().map(|a| a.met_known).sum::<i64>().max(0) as u64).render(), int(of.iter().map(|a| a.met_new).sum::<i64>().max(0) as u64).render(), int(of.iter().map(|a| a.referrals).sum::<i64>().max(0) as u64).render()]
            })
            .collect();

        let mut av_month: BTreeMap<String, Vec<f64>> = months.iter().map(|(m, _, _)| (m.clone(), vec![0.0, 0.0])).collect();
        for a in &av {
            if let Some(v) = av_month.get_mut(&Period::month_of(a.at)) {
                v[0] += a.met_known as f64;
                v[1] += a.met_new as f64;
            }
        }
        let av_cols: Vec<(String, Vec<f64>)> = av_month.into_iter().collect();
        let srows: Vec<Vec<Markup>> = sessions
            .items
            .iter()
            .filter_map(|r| if let Record::Activity(a) = r { Some(a) } else { None })
            .map(|a| {
                vec![
                    a.started_at.map(datetime).unwrap_or_default().render(),
                    l.sector(&a.sector).render(),
                    a.place.as_deref().unwrap_or("").render(),
                    a.met_known.unwrap_or(0).render(),
                    a.met_new.unwrap_or(0).render(),
                    a.partners.join(", ").render(),
                    a.topics.join(", ").render(),
                ]
            })
            .collect();

        let mut rrows: Vec<Vec<Markup>> = partners.iter().map(|(name, n)| vec![name.render(), int(*n).render()]).collect();
        rrows.push(vec![
            html! { i { "Notées sur les activités (" (activity_type_label("aller_vers").to_lowercase()) ", permanences…)" } },
            int(referrals.max(0) as u64).render(),
        ]);

        let b = html! {
            h1 { "Activité" }
            form.filters method="get" { (p.form_fields()) button.btn { "Afficher" } }
            p.muted { "Activités commencées " (p.label()) "." }
            div.cards {
                @for (label, n) in cards {
                    div.card { (label) b { (int(n.max(0) as u64)) } }
                }
            }
            h2 { "Par mois et type d'activité" }
            (svg::columns("Activités par mois et par type", &cols, &series))
            (table(&header, &month_rows))
            h2 { "Par axe de mission" }
            (svg::hbars("Activités par axe de mission", &axis_rows, &["Activités"]))
            (table(&["Axe", "#Activités"], &axis_table))
            h2 { "Par secteur" }
            (table(&["Secteur", "#Activités", "#Habitants connus", "#Habitants nouveaux", "#Orientations"], &sector_rows))
            h2 { "Par type d'activité" }
            (table(&["Type", "#Nombre", "#Habitants connus", "#Habitants nouveaux", "#Orientations"], &type_rows))
            h2 { "« Aller vers » : habitants rencontrés" }
            (svg::columns("Habitants rencontrés lors des sessions aller vers, par mois", &av_cols, &["Déjà connus", "Nouveaux"]))
            p.muted { (av.len()) " session(s) sur la période ; les 50 plus récentes :" }
            (table(&["Date", "Secteur", "Lieu", "#Connus", "#Nouveaux", "Partenaires présentés", "Thèmes"], &srows))
            h2 { "Orientations vers les partenaires" }
            (table(&["Partenaire", "#Orientations"], &rrows))
        };
        Ok(html_response(ctx.page("Activité", "/activite", b)))
    })
    .await
}
