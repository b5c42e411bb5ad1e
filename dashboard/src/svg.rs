//! Charts as inline SVG, drawn on the server: nothing to download, nothing
//! to run in the browser, and they print. Each chart has a `<title>` and a
//! table beside it on the page carries the same numbers.

use std::fmt::Write;

use crate::html::esc;

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

fn legend(series: &[&str], y: f64) -> String {
    let mut s = String::new();
    let mut x = 10.0;
    for (i, name) in series.iter().enumerate() {
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            y - 10.0,
            COLOURS[i % COLOURS.len()],
            x + 16.0,
            y,
            esc(name)
        );
        x += 30.0 + name.chars().count() as f64 * 7.0;
    }
    s
}

/// Horizontal bars, one group per row and one bar per series.
pub fn hbars(title: &str, rows: &[(String, Vec<f64>)], series: &[&str]) -> String {
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
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" font-family=\"system-ui,sans-serif\"><title>{}</title>",
        esc(title)
    );
    if series.len() > 1 {
        s.push_str(&legend(series, 18.0));
    }
    for (i, (label, values)) in rows.iter().enumerate() {
        let y0 = top + group_h * i as f64;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y0 + group_h / 2.0,
            esc(label)
        );
        for (k, v) in values.iter().enumerate() {
            let y = y0 + bar_h * k as f64;
            let w = (v * scale).max(0.0);
            let _ = write!(
                s,
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"><title>{} — {}</title></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"11\">{}</text>",
                bar_h - 2.0,
                COLOURS[k % COLOURS.len()],
                esc(label),
                fmt_value(*v),
                label_w + w + 4.0,
                y + bar_h - 4.0,
                fmt_value(*v)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Vertical stacked columns, one per period (month), one layer per series.
pub fn columns(title: &str, cols: &[(String, Vec<f64>)], series: &[&str]) -> String {
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
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" font-family=\"system-ui,sans-serif\"><title>{}</title>",
        esc(title)
    );
    s.push_str(&legend(series, 18.0));
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        top + plot_h,
        width - 10.0,
        top + plot_h
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
        left - 4.0,
        top + 4.0,
        fmt_value(max)
    );
    for (i, (label, values)) in cols.iter().enumerate() {
        let x = left + step * i as f64 + (step - bar_w) / 2.0;
        let mut y = top + plot_h;
        for (k, v) in values.iter().enumerate() {
            let h = v / max * plot_h;
            y -= h;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} — {} : {}</title></rect>",
                COLOURS[k % COLOURS.len()],
                esc(label),
                esc(series.get(k).copied().unwrap_or("")),
                fmt_value(*v)
            );
        }
        let total: f64 = values.iter().sum();
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + bar_w / 2.0,
            y - 3.0,
            fmt_value(total)
        );
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + bar_w / 2.0,
            top + plot_h + 14.0,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_handle_empty_data() {
        let svg = hbars("t", &[("<x>".into(), vec![3.0, 1.5])], &["a", "b"]);
        assert!(svg.contains("&lt;x&gt;") && svg.contains("1,5") && svg.starts_with("<svg"));
        let empty = columns("t", &[], &["a"]);
        assert!(empty.ends_with("</svg>"));
    }
}
