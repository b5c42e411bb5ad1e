//! Charts as inline SVG, drawn on the server: nothing to download, nothing
//! to run in the browser, and they print. Each chart has a `<title>` and a
//! table beside it on the page carries the same numbers.

use crate::html::{Markup, html};

/// Series colours, distinguishable in print and by most colour-blind readers.
const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f",
];

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}").replace('.', ",")
    }
}

/// A length or coordinate with one decimal.
fn d1(v: f64) -> String {
    format!("{v:.1}")
}

// Shapes are closed with an explicit end tag (`rect {}`): in HTML, inline
// SVG's `<rect>` without one would swallow the elements after it.

fn legend(series: &[&str], y: f64) -> Markup {
    let mut x = 10.0;
    let items: Vec<(f64, &str, &str)> = series
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let at = x;
            x += 30.0 + name.chars().count() as f64 * 7.0;
            (at, COLOURS[i % COLOURS.len()], *name)
        })
        .collect();
    html! {
        @for (x, colour, name) in items {
            rect x=(x) y=(y - 10.0) width="12" height="12" fill=(colour) {}
            text x=(x + 16.0) y=(y) font-size="12" { (name) }
        }
    }
}

/// The `<svg>` element every chart is drawn in, titled for screen readers.
fn chart(title: &str, width: f64, height: f64, content: Markup) -> Markup {
    html! {
        svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg"
            viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height)
            font-family="system-ui,sans-serif" {
            title { (title) }
            (content)
        }
    }
}

/// Horizontal bars, one group per row and one bar per series.
pub fn hbars(title: &str, rows: &[(String, Vec<f64>)], series: &[&str]) -> Markup {
    let label_w = 230.0;
    let width = 760.0;
    let bar_h = 14.0;
    let group_h = bar_h * series.len() as f64 + 10.0;
    let top = if series.len() > 1 { 28.0 } else { 8.0 };
    let height = top + group_h * rows.len().max(1) as f64 + 8.0;
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let scale = (width - label_w - 70.0) / max;
    let content = html! {
        @if series.len() > 1 {
            (legend(series, 18.0))
        }
        @for (i, (label, values)) in rows.iter().enumerate() {
            @let y0 = top + group_h * i as f64;
            text x=(label_w - 8.0) y=(y0 + group_h / 2.0) font-size="12" text-anchor="end" { (label) }
            @for (k, v) in values.iter().enumerate() {
                @let y = y0 + bar_h * k as f64;
                @let w = (v * scale).max(0.0);
                rect x=(label_w) y=(y) width=(d1(w)) height=(bar_h - 2.0) fill=(COLOURS[k % COLOURS.len()]) {
                    title { (label) " — " (fmt_value(*v)) }
                }
                text x=(d1(label_w + w + 4.0)) y=(y + bar_h - 4.0) font-size="11" { (fmt_value(*v)) }
            }
        }
    };
    chart(title, width, height, content)
}

/// Vertical stacked columns, one per period (month), one layer per series.
pub fn columns(title: &str, cols: &[(String, Vec<f64>)], series: &[&str]) -> Markup {
    let width = 760.0;
    let height = 260.0;
    let (left, bottom, top) = (40.0, 40.0, 30.0);
    let plot_h = height - bottom - top;
    let max = cols
        .iter()
        .map(|(_, v)| v.iter().sum::<f64>())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let step = (width - left - 10.0) / cols.len().max(1) as f64;
    let bar_w = (step * 0.7).max(2.0);
    let content = html! {
        (legend(series, 18.0))
        line x1=(left) y1=(top + plot_h) x2=(width - 10.0) y2=(top + plot_h) stroke="#888" {}
        text x=(left - 4.0) y=(top + 4.0) font-size="11" text-anchor="end" { (fmt_value(max)) }
        @for (i, (label, values)) in cols.iter().enumerate() {
            @let x = left + step * i as f64 + (step - bar_w) / 2.0;
            @let layers = stack(values, max, plot_h, top + plot_h);
            @let y_top = layers.last().map_or(top + plot_h, |l| l.0);
            @for (k, (y, h, v)) in layers.iter().enumerate() {
                rect x=(d1(x)) y=(d1(*y)) width=(d1(bar_w)) height=(d1(*h)) fill=(COLOURS[k % COLOURS.len()]) {
                    title { (label) " — " (series.get(k).copied().unwrap_or("")) " : " (fmt_value(*v)) }
                }
            }
            text x=(d1(x + bar_w / 2.0)) y=(d1(y_top - 3.0)) font-size="10" text-anchor="middle" {
                (fmt_value(values.iter().sum()))
            }
            text x=(d1(x + bar_w / 2.0)) y=(top + plot_h + 14.0) font-size="10" text-anchor="middle" { (label) }
        }
    };
    chart(title, width, height, content)
}

/// A column's layers from the baseline up: each one's top, height and value.
fn stack(values: &[f64], max: f64, plot_h: f64, base: f64) -> Vec<(f64, f64, f64)> {
    let mut y = base;
    values
        .iter()
        .map(|v| {
            let h = v / max * plot_h;
            y -= h;
            (y, h, *v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_handle_empty_data() {
        let svg = hbars("t", &[("<x>".into(), vec![3.0, 1.5])], &["a", "b"]).into_string();
        assert!(svg.contains("&lt;x&gt;") && svg.contains("1,5") && svg.starts_with("<svg"));
        assert!(!svg.contains("<x>"));
        let cols = columns("t", &[("<m>".into(), vec![1.0, 2.0])], &["<a>", "b"]).into_string();
        assert!(cols.contains("&lt;m&gt; — &lt;a&gt; : 1") && !cols.contains("<a>"));
        // Every shape is closed, so nothing after it is swallowed.
        assert_eq!(
            cols.matches("<rect").count(),
            cols.matches("</rect>").count()
        );
        let empty = columns("t", &[], &["a"]).into_string();
        assert!(empty.ends_with("</svg>"));
    }
}
