//! Plain placeholder substitution for user-written bodies (webhook actions,
//! the generic webhook channel): `{{name}}` (spaces inside the braces
//! allowed) is replaced by a value, once (a value holding `{{name}}` is not
//! expanded again); any other `{{name}}` is refused at parse; an unclosed
//! `{{` is text. No template engine: nothing can be read or run.

/// A template parsed once, over the placeholders `V`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template<V>(Vec<Piece<V>>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<V> {
    Lit(String),
    Var(V),
}

impl<V: Copy> Template<V> {
    /// Parses `src`; `vars` names the known placeholders; errors are at `key`.
    pub(crate) fn parse(
        key: &str,
        src: &str,
        vars: &[(&str, V)],
    ) -> Result<Self, crate::BuildError> {
        let mut pieces = Vec::new();
        let mut rest = src;
        let mut lit = String::new();
        while let Some(open) = rest.find("{{") {
            lit.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                // An unclosed "{{" is literal text.
                lit.push_str(&rest[open..]);
                rest = "";
                break;
            };
            let name = after[..close].trim();
            let Some((_, var)) = vars.iter().find(|(n, _)| *n == name) else {
                let known: Vec<String> = vars.iter().map(|(n, _)| format!("{{{{{n}}}}}")).collect();
                return Err(crate::BuildError::new(
                    key,
                    format!(
                        "unknown placeholder {{{{{name}}}}} (known: {})",
                        known.join(", ")
                    ),
                ));
            };
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Var(*var));
            rest = &after[close + 2..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template(pieces))
    }

    /// Whether the template is a JSON object or array once every placeholder
    /// is replaced by `0` (`"{{target}}"` → `"0"`, `{{attempt}}` → `0`).
    pub(crate) fn is_json(&self) -> bool {
        let probe = self.render(false, |_| "0".into());
        serde_json::from_str::<serde_json::Value>(&probe)
            .is_ok_and(|v| v.is_object() || v.is_array())
    }

    /// The text with every placeholder replaced by `value(var)`,
    /// JSON-string-escaped (without the quotes) when `json_escape`.
    pub(crate) fn render<'a>(
        &self,
        json_escape: bool,
        value: impl Fn(V) -> std::borrow::Cow<'a, str>,
    ) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => {
                    let value = value(*v);
                    if json_escape {
                        let quoted = serde_json::to_string(value.as_ref()).unwrap_or_default();
                        out.push_str(quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or(""));
                    } else {
                        out.push_str(&value);
                    }
                }
            }
        }
        out
    }
}
