//! Numbers for people, shared by the report's table, Markdown, HTML and figures.

/// A latency for people: "850us", "42.1ms", "1.25s".
pub fn fmt_secs(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0}us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1}ms", s * 1e3)
    } else {
        format!("{s:.2}s")
    }
}
