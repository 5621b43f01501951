//! Text helpers shared by the channels: fitting text into a receiver's
//! limit on a character boundary, escaping the receiver's markup, and
//! keeping secrets out of reasons.
//!
//! Limits are counted in UTF-16 code units ([`Unit::Chars`]), which is what
//! Telegram and Discord count and never less than the number of characters
//! (so a limit stated in characters holds too), or in UTF-8 bytes
//! ([`Unit::Bytes`], ntfy). Text that is cut ends with `…`, within the
//! limit; an escape sequence (`\*`, `&amp;`) is never cut in half.

/// How a receiver counts its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// UTF-16 code units (a character outside the BMP, e.g. most emoji,
    /// counts 2).
    Chars,
    /// UTF-8 bytes.
    Bytes,
}

impl Unit {
    fn of_char(self, c: char) -> usize {
        match self {
            Unit::Chars => c.len_utf16(),
            Unit::Bytes => c.len_utf8(),
        }
    }

    /// The length of `s` in this unit.
    pub fn len(self, s: &str) -> usize {
        match self {
            Unit::Chars => s.encode_utf16().count(),
            Unit::Bytes => s.len(),
        }
    }
}

const ELLIPSIS: char = '…';

/// `s` escaped with `esc` and cut to at most `max` units (ending with `…`
/// when cut). `esc` writes one character's escaped form.
pub fn escape_fit(s: &str, max: usize, unit: Unit, esc: impl Fn(char, &mut String)) -> String {
    let mut out = String::new();
    let mut used = 0usize;
    let mut piece = String::new();
    let ell = unit.of_char(ELLIPSIS);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        piece.clear();
        esc(c, &mut piece);
        let n = unit.len(&piece);
        let last = chars.peek().is_none();
        // Room for this piece, and for the ellipsis unless it is the last.
        let need = if last { n } else { n + ell };
        if used + need > max {
            // Every earlier piece left room for the ellipsis.
            if max >= ell {
                out.push(ELLIPSIS);
            }
            return out;
        }
        out.push_str(&piece);
        used += n;
    }
    out
}

/// `s` cut to at most `max` units (no escaping).
pub fn fit(s: &str, max: usize, unit: Unit) -> String {
    if unit.len(s) <= max {
        return s.to_string();
    }
    escape_fit(s, max, unit, |c, o| o.push(c))
}

/// Control characters other than newline and tab become spaces (receivers
/// refuse or mangle them); `\r\n` becomes `\n`.
pub fn plain(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// One line, at most `max` characters: every control character (newlines
/// too) becomes a space, runs of spaces one.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_end();
    if out.chars().count() <= max {
        return out.to_string();
    }
    let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
    cut.push(ELLIPSIS);
    cut
}

/// Every occurrence of a secret (raw or percent-encoded) replaced by
/// `[redacted]`. Secrets shorter than 4 bytes are not searched for (they
/// would match ordinary words).
pub fn scrub(s: &str, secrets: &[String]) -> String {
    let mut out = s.to_string();
    for secret in secrets.iter().filter(|x| x.len() >= 4) {
        out = out.replace(secret.as_str(), crate::redact::REDACTED);
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        if encoded != *secret {
            out = out.replace(&encoded, crate::redact::REDACTED);
        }
    }
    out
}

/// HTML: `&`, `<`, `>`, `"`, `'` as entities (e-mail, Telegram, Matrix).
pub fn esc_html(c: char, o: &mut String) {
    match c {
        '&' => o.push_str("&amp;"),
        '<' => o.push_str("&lt;"),
        '>' => o.push_str("&gt;"),
        '"' => o.push_str("&quot;"),
        '\'' => o.push_str("&#39;"),
        c => o.push(c),
    }
}

/// [`esc_html`], and a newline as `<br>` (Matrix's formatted body).
pub fn esc_html_br(c: char, o: &mut String) {
    if c == '\n' {
        o.push_str("<br>");
    } else {
        esc_html(c, o);
    }
}

/// `s` HTML-escaped, whole.
pub fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    s.chars().for_each(|c| esc_html(c, &mut o));
    o
}

/// Slack's mrkdwn control characters `&`, `<`, `>` (Slack's own rule: this
/// is what turns `<!everyone>`, `<@U123>` and `<http://x|y>` into text).
pub fn esc_slack(c: char, o: &mut String) {
    match c {
        '&' => o.push_str("&amp;"),
        '<' => o.push_str("&lt;"),
        '>' => o.push_str("&gt;"),
        c => o.push(c),
    }
}

/// Discord markdown: a backslash before every markdown character, and `@`
/// followed by a zero-width space so no mention forms (besides
/// `allowed_mentions`, which the Discord channel also sets).
pub fn esc_discord(c: char, o: &mut String) {
    match c {
        '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '#' | '[' | ']' | '(' | ')' | '-'
        | ':' | '.' | '+' | '!' => {
            o.push('\\');
            o.push(c);
        }
        '@' => o.push_str("@\u{200B}"),
        c => o.push(c),
    }
}

/// Builds a text within a budget: markup is added whole or not at all,
/// text is escaped and cut to what is left.
pub struct Fit<'a> {
    out: String,
    left: usize,
    unit: Unit,
    esc: &'a dyn Fn(char, &mut String),
}

impl<'a> Fit<'a> {
    pub fn new(max: usize, unit: Unit, esc: &'a dyn Fn(char, &mut String)) -> Self {
        Fit {
            out: String::new(),
            left: max,
            unit,
            esc,
        }
    }

    /// What is left of the budget.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Appends `raw` (markup, not escaped) if it fits whole.
    pub fn raw(&mut self, raw: &str) -> bool {
        let n = self.unit.len(raw);
        if n > self.left {
            return false;
        }
        self.out.push_str(raw);
        self.left -= n;
        true
    }

    /// `open` + `text` escaped (at most `max` units of it) + `close`; added
    /// only when the markup and at least a few units of text fit.
    pub fn wrapped(&mut self, open: &str, text: &str, close: &str, max: usize) -> bool {
        if text.is_empty() {
            return false;
        }
        let markup = self.unit.len(open) + self.unit.len(close);
        if self.left < markup + 2 {
            return false;
        }
        let room = (self.left - markup).min(max);
        let body = escape_fit(text, room, self.unit, self.esc);
        if body.is_empty() {
            return false;
        }
        self.raw(open);
        self.raw(&body);
        self.raw(close);
        true
    }

    /// `text` escaped, at most `max` units.
    pub fn text(&mut self, text: &str, max: usize) -> bool {
        self.wrapped("", text, "", max)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// No escaping.
pub fn esc_none(c: char, o: &mut String) {
    o.push(c);
}

/// The message as plain text: title, text, the fields (`name: value`),
/// the targets and the link, each on its own line(s), at most `max` units.
pub fn plain_message(msg: &super::Message, max: usize, unit: Unit) -> String {
    let mut f = Fit::new(max, unit, &esc_none);
    f.text(&plain(&msg.title), 256);
    if !msg.text.is_empty() {
        f.raw("\n");
        f.text(&plain(&msg.text), usize::MAX);
    }
    for (name, value) in &msg.fields {
        f.raw("\n");
        f.text(&one_line(&format!("{name}: {value}"), 1024), usize::MAX);
    }
    if !msg.targets.is_empty() {
        f.raw("\n");
        f.text(
            &one_line(&format!("Targets: {}", msg.targets.join(", ")), 2048),
            usize::MAX,
        );
    }
    if let Some(link) = msg.http_link() {
        f.raw("\n");
        f.raw(link);
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_on_char_boundaries_with_an_ellipsis() {
        assert_eq!(fit("hello", 5, Unit::Chars), "hello");
        assert_eq!(fit("hello!", 5, Unit::Chars), "hell…");
        // 😀 is two UTF-16 units: it never straddles the limit.
        let e = "😀😀😀";
        assert_eq!(fit(e, 6, Unit::Chars), e);
        assert_eq!(fit(e, 5, Unit::Chars), "😀😀…");
        assert_eq!(fit(e, 4, Unit::Chars), "😀…");
        assert_eq!(fit("ééé", 4, Unit::Bytes), "…");
        assert_eq!(fit("ééé", 5, Unit::Bytes), "é…");
        assert_eq!(fit("abc", 0, Unit::Chars), "");
    }

    #[test]
    fn escapes_are_never_cut_in_half() {
        let s = escape_fit("a*b*c*d", 5, Unit::Chars, esc_discord);
        assert_eq!(s, "a\\*b…");
        let s = escape_fit("<<<<", 10, Unit::Chars, esc_html);
        assert_eq!(s, "&lt;&lt;…");
        assert!(Unit::Chars.len(&s) <= 10);
    }

    #[test]
    fn mentions_and_markup_become_text() {
        let mut o = String::new();
        "@everyone <@123> **x**"
            .chars()
            .for_each(|c| esc_discord(c, &mut o));
        assert!(!o.contains("@everyone"));
        assert!(!o.contains("**"));
        let mut o = String::new();
        "<!everyone> & <http://x|y>"
            .chars()
            .for_each(|c| esc_slack(c, &mut o));
        assert_eq!(o, "&lt;!everyone&gt; &amp; &lt;http://x|y&gt;");
        assert_eq!(html("<b>\"x\"</b>"), "&lt;b&gt;&quot;x&quot;&lt;/b&gt;");
    }

    #[test]
    fn one_line_and_scrub() {
        assert_eq!(one_line("a\n\n b\t\u{0}c", 100), "a b c");
        assert_eq!(one_line("abcdef", 4), "abc…");
        let s = scrub(
            "bad token 123456:ABC-def and 123456%3AABC-def",
            &["123456:ABC-def".into(), "ab".into()],
        );
        assert_eq!(s, "bad token [redacted] and [redacted]");
    }
}
