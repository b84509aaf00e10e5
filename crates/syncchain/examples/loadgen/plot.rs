//! The sweep as an SVG: throughput and p99 latency by requests in flight,
//! one line per scenario, both axes logarithmic. Written by hand, so the
//! picture needs no plotting crate and renders anywhere (no scripts, no
//! fonts beyond the viewer's sans-serif).

use std::fmt::Write;

use serde_json::Value;

const COLOURS: [&str; 8] = [
    "#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8c564b", "#444444",
];
const WIDTH: f64 = 980.0;
const HEIGHT: f64 = 470.0;
const PANEL_W: f64 = 380.0;
const PANEL_H: f64 = 300.0;
const TOP: f64 = 70.0;

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

/// `results` as the load generator writes them (objects with `scenario`,
/// `concurrency`, `per_second` and `p99_ms`).
pub fn svg(title: &str, results: &[Value]) -> String {
    let mut names: Vec<String> = Vec::new();
    for r in results {
        if let Some(name) = r["scenario"].as_str()
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_owned());
        }
    }
    let series = |field: &str| -> Vec<Series> {
        names
            .iter()
            .map(|name| Series {
                name: name.clone(),
                points: results
                    .iter()
                    .filter(|r| r["scenario"].as_str() == Some(name))
                    .filter_map(|r| Some((r["concurrency"].as_f64()?, r[field].as_f64()?)))
                    .filter(|&(_, v)| v > 0.0)
                    .collect(),
            })
            .collect()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="28" font-size="15" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    panel(
        &mut out,
        80.0,
        "requests done a second",
        &series("per_second"),
    );
    panel(
        &mut out,
        80.0 + PANEL_W + 110.0,
        "p99 latency (ms)",
        &series("p99_ms"),
    );
    // The legend, in one row under both panels.
    let mut x = 80.0;
    let y = TOP + PANEL_H + 62.0;
    for (i, name) in names.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 22.0,
            x + 28.0,
            y + 4.0,
            escape(name)
        );
        x += 40.0 + 7.5 * name.len() as f64;
    }
    out.push_str("</svg>\n");
    out
}

/// The powers of ten (and the 2 and 5 between them) spanning `lo..=hi`.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo * 0.9999 && t <= hi * 1.0001 {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

fn label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}k", v / 1000.0)
    } else if v >= 1.0 {
        format!("{v}")
    } else {
        format!("{v:.1}")
    }
}

fn panel(out: &mut String, left: f64, y_title: &str, series: &[Series]) {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    if all.is_empty() {
        return;
    }
    let fold = |f: fn(&(f64, f64)) -> f64, min: bool| {
        all.iter()
            .map(f)
            .fold(if min { f64::MAX } else { f64::MIN }, |a, b| {
                if min { a.min(b) } else { a.max(b) }
            })
    };
    let (x_lo, x_hi) = (fold(|p| p.0, true), fold(|p| p.0, false));
    // Whole decades on the value axis, so lines of a scenario and the
    // ceiling are read against the same grid.
    let y_lo = 10f64.powf(fold(|p| p.1, true).log10().floor());
    let y_hi = 10f64
        .powf(fold(|p| p.1, false).log10().ceil())
        .max(y_lo * 10.0);
    let x_at = |c: f64| {
        if x_hi > x_lo {
            left + (c.log2() - x_lo.log2()) / (x_hi.log2() - x_lo.log2()) * PANEL_W
        } else {
            left + PANEL_W / 2.0
        }
    };
    let y_at = |v: f64| {
        TOP + PANEL_H - (v.log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10()) * PANEL_H
    };
    let _ = writeln!(
        out,
        r##"<rect x="{left}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>"##
    );
    for t in log_ticks(y_lo, y_hi) {
        let y = y_at(t);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + PANEL_W,
            left - 6.0,
            y + 4.0,
            label(t)
        );
    }
    let mut xs: Vec<f64> = all.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for c in xs {
        let x = x_at(c);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#e4e4e4"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP + PANEL_H,
            TOP + PANEL_H + 16.0,
            label(c)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">requests in flight</text>"#,
        left + PANEL_W / 2.0,
        TOP + PANEL_H + 34.0
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
        left + PANEL_W / 2.0,
        TOP - 10.0,
        escape(y_title)
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(c, v)| format!("{:.1},{:.1}", x_at(c), y_at(v)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"><title>{}</title></polyline>"#,
            points.join(" "),
            escape(&s.name)
        );
        for &(c, v) in &s.points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: {} in flight, {v:.1}</title></circle>"#,
                x_at(c),
                y_at(v),
                escape(&s.name),
                c
            );
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
