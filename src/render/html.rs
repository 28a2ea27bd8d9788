//! `report.html`: the same report as `report.md`, self-contained: the plots are inline SVG,
//! the style is inline, and nothing is fetched (no scripts, fonts, images or links out).
//! Written as well-formed XHTML-style markup (every element closed, text escaped).

use std::fmt::Write as _;

use super::markdown::{brief_lines, columns, policy_notes};
use super::view::RunView;

/// Text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1320px;color:#222;padding:0 1em}\
table{border-collapse:collapse;font-size:14px;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}\
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}td.best{font-weight:bold;background:#e6f4ea}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}\
dt{font-weight:bold}dd{margin:0}code{font-size:13px}";

/// Strip the XML declaration plotters may emit, so the SVG can sit inside HTML.
fn inline_svg(svg: &str) -> &str {
    let s = svg.trim();
    match (s.starts_with("<?xml"), s.find("?>")) {
        (true, Some(i)) => s[i + 2..].trim_start(),
        _ => s,
    }
}

/// The report; `figures` are (name, SVG text).
pub fn render(view: &RunView, figures: &[(String, String)]) -> String {
    let mut o = String::new();
    let title = format!("{}: autoscaling report", view.brief.scenario);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    o.push_str("<h2>Scenario</h2>\n<dl>\n");
    for (k, v) in brief_lines(view) {
        let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
    }
    o.push_str("</dl>\n<h2>Comparison</h2>\n<table>\n<thead><tr><th>policy</th>");
    let cols = columns(view);
    for c in &cols {
        let _ = write!(o, "<th>{}</th>", esc(c.header));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for (i, p) in view.policies.iter().enumerate() {
        let _ = write!(o, "<tr><td>{}</td>", esc(&p.label));
        for c in &cols {
            let class = if c.is_best(i) { " class=\"best\"" } else { "" };
            let _ = write!(o, "<td{class}>{}</td>", esc(&c.cells[i].1));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n<p>The best value of each column is highlighted. Definitions: docs/scenario.md, Outputs.</p>\n");
    let labelled: Vec<(&str, &crate::report::Summary)> = view.policies.iter().map(|p| (p.label.as_str(), &p.summary)).collect();
    o.push_str("<ul class=\"slo\">\n");
    for line in crate::report::slo_lines(&labelled).into_iter().chain(super::markdown::end_to_end_lines(&labelled)) {
        o.push_str(&format!("<li>{}</li>\n", esc(&line)));
    }
    o.push_str("</ul>\n");
    let global: Vec<&(String, String)> = figures.iter().filter(|f| !f.0.contains('/')).collect();
    if !global.is_empty() {
        o.push_str("<h2>Plots</h2>\n");
        for (name, svg) in global {
            let _ = writeln!(o, "<figure id=\"{}\">\n{}\n</figure>", esc(name), inline_svg(svg));
        }
    }
    o.push_str("<h2>Policies</h2>\n");
    for p in &view.policies {
        let _ = writeln!(o, "<h3>{}</h3>", esc(&p.label));
        let prefix = format!("{}/", p.label);
        for (name, svg) in figures.iter().filter(|f| f.0.starts_with(&prefix)) {
            let _ = writeln!(o, "<figure id=\"{}\">\n{}\n</figure>", esc(&name.replace('/', "-")), inline_svg(svg));
        }
        let notes = policy_notes(p);
        o.push_str("<ul>\n");
        for line in &notes.lines {
            let _ = writeln!(o, "<li>{}</li>", esc(line));
        }
        for (title, list) in &notes.lists {
            let _ = write!(o, "<li>{title}:<ul>");
            for d in list {
                let _ = write!(o, "<li><code>{}</code></li>", esc(d));
            }
            o.push_str("</ul></li>\n");
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</body>\n</html>\n");
    o
}
