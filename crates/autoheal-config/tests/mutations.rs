//! Hostile configs (issue 7 items 3, 4 and 13): the loader is fed the full
//! example of docs/configuration.md with one value replaced by something
//! hostile, or with its text cut and spliced. It never panics; a value it
//! refuses is reported at the key that holds it, in words a user reads
//! (no serde internals), and a value it accepts is within the documented
//! ranges.

use autoheal_config::{parse_str, ConfigErrors};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

fn full_example() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .expect("docs/configuration.md exists");
    let section = doc.split("## A full example").nth(1).unwrap();
    section
        .split("```toml")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap()
        .to_string()
}

/// Every leaf of a TOML document with its path (array items by index).
fn leaves(v: &toml::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                path.push(k.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(v, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn set(v: &mut toml::Value, path: &[String], new: toml::Value) {
    let (first, rest) = path.split_first().unwrap();
    let child = match v {
        toml::Value::Table(t) => t.get_mut(first).unwrap(),
        toml::Value::Array(a) => &mut a[first.parse::<usize>().unwrap()],
        _ => unreachable!(),
    };
    if rest.is_empty() {
        *child = new;
    } else {
        set(child, rest, new);
    }
}

fn hostile() -> impl Strategy<Value = toml::Value> {
    use toml::Value as V;
    prop_oneof![
        Just(V::Integer(i64::MAX)),
        Just(V::Integer(i64::MIN)),
        Just(V::Integer(-1)),
        Just(V::Integer(0)),
        Just(V::Float(f64::NAN)),
        Just(V::Float(f64::INFINITY)),
        Just(V::Float(-0.5)),
        Just(V::Float(1e308)),
        Just(V::Boolean(true)),
        Just(V::String(String::new())),
        Just(V::String("18446744073709551615s".into())),
        Just(V::String("100y".into())),
        Just(V::String("1ns".into())),
        Just(V::String("0s".into())),
        Just(V::String("-5s".into())),
        Just(V::String("\u{0}\u{7}\u{1b}[31m".into())),
        Just(V::String("x".repeat(70_000))),
        Just(V::String("http://169.254.169.254/latest/meta-data".into())),
        Just(V::String("999.999.999.999:99999".into())),
        Just(V::String("* * * * * * * *".into())),
        Just(V::String("Mars/Olympus".into())),
        Just(V::Array(vec![])),
        Just(V::Array(vec![V::Integer(1), V::String("a".into())])),
        Just(V::Table(Default::default())),
        any::<i64>().prop_map(V::Integer),
        "\\PC{0,40}".prop_map(V::String),
        "[0-9]{1,25}(ns|ms|s|m|h|d|w|y)".prop_map(V::String),
    ]
}

/// serde's and toml's own words, which mean nothing to a user.
const INTERNAL: &[&str] = &[
    "untagged enum",
    "unit variant",
    "newtype",
    "variant identifier",
    "struct ",
    "invalid type: map",
    "Option<",
    "u64",
    "i64",
    "u32",
    "found sequence",
    "found map",
    "floating point",
    "string only",
    "path string",
    "wanted exactly",
];

fn check_messages(e: &ConfigErrors) -> Result<(), TestCaseError> {
    for err in &e.0 {
        prop_assert!(!err.message.is_empty(), "an empty message at {}", err.key);
        for w in INTERNAL {
            prop_assert!(
                !err.message.contains(w),
                "{}: {} (names {w:?})",
                err.key,
                err.message
            );
        }
    }
    Ok(())
}

fn dotted(path: &[String]) -> String {
    let mut s = String::new();
    for p in path {
        if p.parse::<usize>().is_ok() {
            s.push_str(&format!("[{p}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(p);
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn one_hostile_value_is_refused_at_its_key_or_accepted_within_range(
        pick in any::<prop::sample::Index>(),
        value in hostile(),
    ) {
        let text = full_example();
        let mut doc: toml::Value = toml::from_str(&text).unwrap();
        let mut all = Vec::new();
        leaves(&doc, &mut Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        set(&mut doc, &path, value.clone());
        let mutated = toml::to_string(&doc).unwrap();
        match parse_str(&mutated, "autoheal.toml", &BTreeMap::new()) {
            Ok(c) => {
                // Accepted: then it is within the ranges the engine keeps.
                use autoheal_core::policy::limits::{self as l, Limit};
                let at = dotted(&path);
                let within = |lim: Limit, d: std::time::Duration| {
                    if d < lim.min || d > lim.max {
                        Err(TestCaseError::fail(format!(
                            "{at} = {value:?} accepted, giving {} {d:?} outside {:?}..={:?}",
                            lim.what, lim.min, lim.max
                        )))
                    } else {
                        Ok(())
                    }
                };
                for t in &c.targets {
                    let p = &t.policy;
                    prop_assert!(p.failure_threshold >= 1, "{at} = {value:?}");
                    within(l::FAILURE_WINDOW, p.failure_window)?;
                    within(l::START_PERIOD, p.start_period)?;
                    within(l::COOLDOWN, p.cooldown)?;
                    within(l::ACTIONS_WINDOW, p.actions_window)?;
                    within(l::BACKOFF_INITIAL, p.backoff.initial)?;
                    within(l::BACKOFF_MAX, p.backoff.max)?;
                    within(l::BACKOFF_RESET_AFTER, p.backoff.reset_after)?;
                    prop_assert!(p.backoff.factor.is_finite() && p.backoff.factor >= 1.0, "{at}");
                    prop_assert!((0.0..=1.0).contains(&p.backoff.jitter), "{at}");
                    for r in &p.ladder {
                        within(l::VERIFY, r.verify)?;
                    }
                }
            }
            Err(e) => {
                check_messages(&e)?;
                let at = dotted(&path);
                // The error names the mutated key, or the table holding it
                // (an item that became wrong as a whole), or what refers to
                // it (an action or group renamed into nonsense).
                let top = &path[..path.len().min(2)];
                let near = e.0.iter().any(|x| {
                    at.starts_with(&x.key) || x.key.starts_with(&dotted(top)) || x.key.starts_with(&at)
                });
                prop_assert!(near, "{at} = {value:?} was reported elsewhere:\n{e}");
            }
        }
    }

    #[test]
    fn spliced_text_never_panics_and_is_reported_in_words(
        cut in any::<prop::sample::Index>(),
        len in 0usize..200,
        insert in "\\PC{0,30}",
    ) {
        let text = full_example();
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + len).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mutated = format!("{}{}{}", &text[..at], insert, &text[end..]);
        if let Err(e) = parse_str(&mutated, "autoheal.toml", &BTreeMap::new()) {
            check_messages(&e)?;
            prop_assert!(e.0.iter().all(|x| x.file == "autoheal.toml"));
        }
    }
}
