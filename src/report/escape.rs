//! Escaping of untrusted text (run metadata, notes, file names, coordinate names) for every
//! report format, so that it stays text when a report is opened or compiled.
//!
//! * HTML: [`html_text`] for element content, [`html_attr`] for quoted attribute values. A
//!   `model` of `<script>…</script>` becomes visible text, never markup.
//! * Markdown: [`markdown_inline`] (also safe inside a table cell): CommonMark punctuation is
//!   backslash-escaped and `<`, `>`, `&` become entities, so raw HTML, links, emphasis, math
//!   (`$`) and cell breaks (`|`) cannot be injected.
//! * LaTeX: [`latex_text`] maps every special character (`\ { } $ & # ^ _ % ~ < > |`) to a
//!   printing command, so no control sequence of the input (`\input`, `\write18`, `\catcode`)
//!   and no `^^` character code can reach TeX. [`latex_label`] keeps only characters that are
//!   safe inside `\label{…}` and `\ref{…}`.
//!
//! Control characters are dropped (newlines and tabs become spaces) in every format: they have
//! no visible meaning in a report and `^^@`-style inputs could otherwise smuggle bytes.
//! Cost: one pass over the input, O(n).

/// Replaces control characters: tab, newline and carriage return become a space, the others are
/// dropped (C0, DEL and C1 controls).
fn visible(c: char) -> Option<char> {
    match c {
        '\t' | '\n' | '\r' => Some(' '),
        c if c.is_control() => None,
        c => Some(c),
    }
}

/// Escapes text for HTML element content (`&`, `<`, `>`; quotes too, so the result is also
/// safe in a double- or single-quoted attribute).
pub fn html_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter_map(visible) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a quoted HTML attribute value (same mapping as [`html_text`]).
pub fn html_attr(s: &str) -> String {
    html_text(s)
}

/// Escapes text for inline Markdown (CommonMark/GFM), including inside a table cell.
///
/// Backslash-escapes `` \ ` * _ [ ] | ~ $ `` everywhere and `#`, `-`, `+`, `=` at the start of
/// the text (headings, lists, setext underlines); `<`, `>`, `&` become HTML entities so raw
/// HTML cannot be injected; newlines become spaces so the text stays on its line.
pub fn markdown_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().filter_map(visible).enumerate() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '#' | '-' | '+' | '=' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters outside ASCII that pdfLaTeX's default UTF-8 input encoding typesets without
/// extra packages: Latin-1 and Latin Extended-A letters plus common punctuation.
fn latex_safe_non_ascii(c: char) -> bool {
    matches!(c, '\u{a1}'..='\u{ff}' | '\u{100}'..='\u{17f}') && !matches!(c, '\u{ad}')
        || matches!(c, '–' | '—' | '‘' | '’' | '“' | '”' | '…' | '•' | '€')
}

/// Escapes text for LaTeX running text (also inside a tabular cell, a caption or an axis
/// label of pgfplots).
///
/// Every TeX special character becomes a printing command: `\` → `\textbackslash{}`;
/// `{ } $ & # _ %` → `\{ \} \$ \& \# \_ \%`; `^` → `\textasciicircum{}`;
/// `~` → `\textasciitilde{}`; `<`, `>`, `|` → `\textless{}`, `\textgreater{}`, `\textbar{}`
/// (which print correctly in the OT1 encoding). Control characters are dropped; characters
/// that pdfLaTeX cannot typeset by default (outside Latin-1/Latin Extended-A and common
/// punctuation) become `?`, so untrusted text can neither run a command nor stop the document
/// from compiling.
pub fn latex_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    for c in s.chars().filter_map(visible) {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' | '}' | '$' | '&' | '#' | '_' | '%' => {
                out.push('\\');
                out.push(c);
            }
            '^' => out.push_str("\\textasciicircum{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '|' => out.push_str("\\textbar{}"),
            c if c.is_ascii() => out.push(c),
            c if latex_safe_non_ascii(c) => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// A string safe inside `\label{…}`/`\ref{…}` and as a file-name stem: ASCII letters, digits,
/// `-`, `.` and `:` are kept, every other run of characters becomes one `-`; empty input gives
/// `"x"`.
pub fn latex_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "x".into()
    } else {
        trimmed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands [`latex_text`] may emit, each after a backslash.
    const ALLOWED: [&str; 12] = [
        "textbackslash{}",
        "textasciicircum{}",
        "textasciitilde{}",
        "textless{}",
        "textgreater{}",
        "textbar{}",
        "{",
        "}",
        "$",
        "&",
        "#",
        "_",
    ];

    /// True when every backslash in `t` starts one of the allowed printing commands (or `\%`),
    /// no `^^` sequence or control character is present and braces are balanced.
    fn only_printing_commands(t: &str) -> bool {
        let mut rest = t;
        let mut depth = 0i64;
        while let Some(c) = rest.chars().next() {
            if c == '\\' {
                let after = &rest[1..];
                let Some(cmd) = ALLOWED
                    .iter()
                    .chain(std::iter::once(&"%"))
                    .find(|cmd| after.starts_with(**cmd))
                else {
                    return false;
                };
                rest = &after[cmd.len()..];
                continue;
            }
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                '^' | '%' | '$' | '&' | '#' | '_' | '~' => return false,
                c if c.is_control() => return false,
                _ => {}
            }
            if depth < 0 {
                return false;
            }
            rest = &rest[c.len_utf8()..];
        }
        depth == 0
    }

    #[test]
    fn html_script_becomes_text() {
        let s = "<script>alert('x')</script> & \"q\"";
        assert_eq!(
            html_text(s),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(html_attr("a\"b\nc\u{0}"), "a&quot;b c");
    }

    #[test]
    fn markdown_cannot_inject_markup() {
        assert_eq!(markdown_inline("a|b"), "a\\|b");
        assert_eq!(
            markdown_inline("# <img src=x onerror=alert(1)>"),
            "\\# &lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            markdown_inline("[x](javascript:1) *b* `c` $m$"),
            "\\[x\\](javascript:1) \\*b\\* \\`c\\` \\$m\\$"
        );
        assert_eq!(markdown_inline("line1\nline2"), "line1 line2");
        assert_eq!(markdown_inline("a-b"), "a-b");
        assert_eq!(markdown_inline("-a"), "\\-a");
    }

    #[test]
    fn latex_specials_are_printed_not_run() {
        assert_eq!(
            latex_text("\\input{/etc/passwd}"),
            "\\textbackslash{}input\\{/etc/passwd\\}"
        );
        assert_eq!(
            latex_text("\\immediate\\write18{rm -rf ~}"),
            "\\textbackslash{}immediate\\textbackslash{}write18\\{rm -rf \\textasciitilde{}\\}"
        );
        assert_eq!(
            latex_text("^^5cinput"),
            "\\textasciicircum{}\\textasciicircum{}5cinput"
        );
        assert_eq!(
            latex_text("50% of $x_1$ & #2"),
            "50\\% of \\$x\\_1\\$ \\& \\#2"
        );
        assert_eq!(latex_text("a\u{7}b\nc"), "ab c");
        assert_eq!(latex_text("<|>"), "\\textless{}\\textbar{}\\textgreater{}");
        assert_eq!(latex_text("Müller – 😀"), "Müller – ?");
        for s in [
            "\\catcode`\\^^M=13",
            "\\def\\x{}",
            "}{",
            "%\n\\end{document}",
        ] {
            assert!(only_printing_commands(&latex_text(s)), "{s}");
        }
    }

    #[test]
    fn checker_rejects_raw_commands() {
        // The property below is only meaningful if the checker can fail.
        assert!(!only_printing_commands("\\input{x}"));
        assert!(!only_printing_commands("^^5c"));
        assert!(!only_printing_commands("}{"));
        assert!(only_printing_commands("\\textbackslash{}input\\{x\\}"));
    }

    #[test]
    fn labels_are_plain() {
        assert_eq!(latex_label("run 7/ResNet_18"), "run-7-ResNet-18");
        assert_eq!(latex_label("\\input{x}"), "input-x");
        assert_eq!(latex_label("{}"), "x");
        assert_eq!(latex_label("sgd-ou:a1b2"), "sgd-ou:a1b2");
    }

    proptest::proptest! {
        #[test]
        fn escaped_latex_has_no_command_but_printing_ones(s in "\\PC*|[\\\\{}$&#^_%~ a-z\\x00-\\x1f]*") {
            let t = latex_text(&s);
            proptest::prop_assert!(only_printing_commands(&t), "{:?} -> {:?}", s, t);
        }

        #[test]
        fn escaped_html_has_no_tag(s in "\\PC*|[<>&\"' a-z/]*") {
            let t = html_text(&s);
            proptest::prop_assert!(!t.contains('<') && !t.contains('>') && !t.contains('"'));
        }

        #[test]
        fn labels_use_safe_characters(s in "\\PC*") {
            let l = latex_label(&s);
            proptest::prop_assert!(!l.is_empty());
            proptest::prop_assert!(l.chars().all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c)));
        }
    }
}
