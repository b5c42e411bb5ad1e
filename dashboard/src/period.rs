//! The period a page or report covers, from `du` / `au` dates in the query
//! string (inclusive days, in the team's time zone). The default is the last
//! twelve months up to today, what an annual report covers.

use jiff::civil::Date;
use serde::Deserialize;

use crate::DashboardError;
use crate::html::{Markup, html, tz};

/// Query-string form of a period.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeriodQuery {
    /// First day, `YYYY-MM-DD`.
    #[serde(default)]
    pub du: Option<String>,
    /// Last day (included), `YYYY-MM-DD`.
    #[serde(default)]
    pub au: Option<String>,
}

/// A resolved period: `[since, until)` in ms, and the days it was asked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: Date,
    /// Last day, included.
    pub to: Date,
    /// Start, ms since the epoch (inclusive).
    pub since: i64,
    /// End, ms since the epoch (exclusive): the midnight after `to`.
    pub until: i64,
}

fn parse(s: &Option<String>, what: &str) -> Result<Option<Date>, DashboardError> {
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<Date>().map(Some).map_err(|_| {
            DashboardError::BadRequest(format!("date « {what} » invalide : attendu AAAA-MM-JJ"))
        }),
    }
}

fn midnight(d: Date) -> Result<i64, DashboardError> {
    d.to_zoned(tz().clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| DashboardError::BadRequest(format!("date hors limites : {e}")))
}

impl PeriodQuery {
    /// Bounds for filters where no date means no limit (exports): `du` from
    /// its midnight, `au` to the midnight after it.
    pub fn bounds(&self) -> Result<(Option<i64>, Option<i64>), DashboardError> {
        let since = parse(&self.du, "du")?.map(midnight).transpose()?;
        let until = match parse(&self.au, "au")? {
            Some(d) => Some(midnight(
                d.tomorrow()
                    .map_err(|e| DashboardError::BadRequest(e.to_string()))?,
            )?),
            None => None,
        };
        Ok((since, until))
    }

    /// The period asked for, or the last twelve months (first day of the
    /// month eleven months ago, to today).
    pub fn resolve(&self) -> Result<Period, DashboardError> {
        let today = jiff::Timestamp::now().to_zoned(tz().clone()).date();
        let to = parse(&self.au, "au")?.unwrap_or(today);
        let from = match parse(&self.du, "du")? {
            Some(d) => d,
            None => to
                .first_of_month()
                .checked_sub(jiff::Span::new().months(11))
                .map_err(|e| DashboardError::BadRequest(e.to_string()))?,
        };
        if from > to {
            return Err(DashboardError::BadRequest(
                "la période commence après sa fin".into(),
            ));
        }
        let next = to
            .tomorrow()
            .map_err(|e| DashboardError::BadRequest(e.to_string()))?;
        Ok(Period {
            from,
            to,
            since: midnight(from)?,
            until: midnight(next)?,
        })
    }
}

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// A day written out in French ("1er mars 2025", "14 juillet 2025").
fn long_date(d: Date) -> String {
    let day = match d.day() {
        1 => "1er".to_string(),
        n => n.to_string(),
    };
    let month = MONTHS[(d.month() as usize).clamp(1, 12) - 1];
    format!("{day} {month} {}", d.year())
}

impl Period {
    /// `du=…&au=…`, to carry the period in links.
    pub fn query(&self) -> String {
        format!("du={}&au={}", self.from, self.to)
    }

    /// "du 01/01/2025 au 31/12/2025".
    pub fn label(&self) -> String {
        format!(
            "du {} au {}",
            self.from.strftime("%d/%m/%Y"),
            self.to.strftime("%d/%m/%Y")
        )
    }

    /// "du 1er janvier 2025 au 31 décembre 2025": the period as a funder
    /// reads it at the top of a printed report, without a date format to
    /// decode.
    pub fn long_label(&self) -> String {
        format!("du {} au {}", long_date(self.from), long_date(self.to))
    }

    /// The months the period touches, as (`YYYY-MM`, start ms, end ms).
    pub fn months(&self) -> Vec<(String, i64, i64)> {
        let mut out = Vec::new();
        let mut m = self.from.first_of_month();
        while m <= self.to && out.len() < 240 {
            let next = m
                .checked_add(jiff::Span::new().months(1))
                .unwrap_or(self.to);
            let start = midnight(m).unwrap_or(self.since).max(self.since);
            let end = midnight(next).unwrap_or(self.until).min(self.until);
            out.push((m.strftime("%Y-%m").to_string(), start, end));
            m = next;
        }
        out
    }

    /// The month key of a time, in the team's zone.
    pub fn month_of(ms: i64) -> String {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.to_zoned(tz().clone()).strftime("%Y-%m").to_string())
            .unwrap_or_default()
    }

    /// The filter form's fields.
    pub fn form_fields(&self) -> Markup {
        html! {
            label { "Du " input type="date" name="du" value=(self.from.to_string()); }
            label { "Au " input type="date" name="au" value=(self.to.to_string()); }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_days_and_checked() {
        let p = PeriodQuery {
            du: Some("2025-01-01".into()),
            au: Some("2025-03-31".into()),
        }
        .resolve()
        .unwrap();
        assert_eq!(p.months().len(), 3);
        assert!(p.until > p.since);
        assert!(
            PeriodQuery {
                du: Some("2025-02-01".into()),
                au: Some("2025-01-01".into())
            }
            .resolve()
            .is_err()
        );
        assert!(
            PeriodQuery {
                du: Some("hier".into()),
                au: None
            }
            .resolve()
            .is_err()
        );
        assert_eq!(p.long_label(), "du 1er janvier 2025 au 31 mars 2025");
        let d = PeriodQuery::default().resolve().unwrap();
        assert_eq!(d.months().len(), 12);
    }
}
