//! Quoting what a file holds in messages: at most one short cell, never a whole line, so that a
//! scenario naming a file it should not read cannot print that file through an error.

/// Cells longer than this many characters are cut.
pub const MAX_CHARS: usize = 40;

/// A cell of a file, quoted: `"text"`, or its first characters and `..."` when it is long.
pub fn cell(s: &str) -> String {
    if s.chars().count() > MAX_CHARS {
        let cut: String = s.chars().take(MAX_CHARS - 3).collect();
        format!("\"{}...\"", cut.escape_debug())
    } else {
        format!("{s:?}")
    }
}

/// Text from a file shown without quotes (an error message a file carries): its first line,
/// cut to [`MAX_CHARS`] characters.
pub fn cut(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > MAX_CHARS || line.len() < s.trim_end().len() {
        let c: String = line.chars().take(MAX_CHARS - 3).collect();
        format!("{c}...")
    } else {
        line.to_string()
    }
}

/// A parser's message (serde_json, YAML, TOML) about a file's content, with each quoted run
/// (`"..."` or `` `...` ``) longer than [`MAX_CHARS`] cut, and line breaks in them escaped:
/// parsers quote whole values, which may be whole lines of the file.
pub fn shorten(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < chars.len() {
        let q = chars[i];
        if q != '"' && q != '`' {
            out.push(q);
            i += 1;
            continue;
        }
        // The closing quote (a backslash escapes the next character inside "...").
        let mut j = i + 1;
        while j < chars.len() && chars[j] != q {
            j += if q == '"' && chars[j] == '\\' { 2 } else { 1 };
        }
        if j >= chars.len() {
            // Unbalanced: the rest as it is, cut if long.
            let rest: String = chars[i..].iter().collect();
            if rest.chars().count() > MAX_CHARS + 1 {
                out.extend(chars[i..i + MAX_CHARS - 2].iter());
                out.push_str("...");
            } else {
                out.push_str(&rest);
            }
            break;
        }
        let inner = &chars[i + 1..j];
        out.push(q);
        if inner.len() > MAX_CHARS {
            out.extend(inner[..MAX_CHARS - 3].iter().map(|&c| if c == '\n' { ' ' } else { c }));
            out.push_str("...");
        } else {
            out.extend(inner.iter());
        }
        out.push(q);
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_short() {
        assert_eq!(cell("abc"), "\"abc\"");
        let long = "x".repeat(100);
        let c = cell(&long);
        assert_eq!(c, format!("\"{}...\"", "x".repeat(37)));
    }

    #[test]
    fn long_quotes_in_messages_are_cut() {
        let secret = "root:x:0:0:root:/root:/bin/bash and much more text after it";
        let m = shorten(&format!("invalid type: string \"{secret}\", expected a number at line 1 column 2"));
        assert_eq!(m, "invalid type: string \"root:x:0:0:root:/root:/bin/bash and m...\", expected a number at line 1 column 2");
        assert_eq!(shorten("unknown field `duraton`, expected one of `a`, `b`"), "unknown field `duraton`, expected one of `a`, `b`");
        let m = shorten(&format!("unknown variant `{secret}`"));
        assert!(m.len() < 60 && m.ends_with("...`"), "{m}");
        assert_eq!(shorten("a \"short \\\" escaped\" b"), "a \"short \\\" escaped\" b");
        let m = shorten(&format!("unbalanced \"{secret}"));
        assert!(m.len() < 60, "{m}");
    }
}
