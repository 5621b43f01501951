//! The OpenAPI document's examples (issue 10 item 8): every schema of the
//! components has one; every example validates against its own schema
//! (JSON Schema 2020-12, `$ref`s resolved within the document); every
//! request-body example is taken by its route as the route takes a body;
//! every error answer carries one. Each check is a function returning what
//! is wrong, and each is shown to fail on a document that is wrong.

use autoheal::http::examples;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
const ERROR_BODY: &str = "#/components/schemas/ErrorBody";

/// The document as served at `/api/v1/openapi.json`.
fn document() -> Value {
    serde_json::to_value(autoheal::http::openapi::document()).unwrap()
}

/// Every operation: (METHOD /path, operation).
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((format!("{} {path}", method.to_uppercase()), op));
            }
        }
    }
    ops
}

/// Schemas of `components.schemas` without an example.
fn schemas_without_example(doc: &Value) -> Vec<String> {
    doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| s["examples"].as_array().is_none_or(|e| e.is_empty()))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Every example of the document with the schema it must satisfy:
/// (where, schema, example).
fn examples_of(doc: &Value) -> Vec<(String, Value, Value)> {
    let mut found = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        for (i, example) in schema["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            found.push((
                format!("components.schemas.{name}.examples[{i}]"),
                json!({"$ref": format!("#/components/schemas/{name}")}),
                example.clone(),
            ));
        }
    }
    for (op_name, op) in operations(doc) {
        let mut contents = Vec::new();
        if let Some(c) = op["requestBody"]["content"].as_object() {
            contents.extend(c.iter().map(|(t, c)| (format!("{op_name} request {t}"), c)));
        }
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            if let Some(c) = response["content"].as_object() {
                contents.extend(
                    c.iter()
                        .map(|(t, c)| (format!("{op_name} {status} {t}"), c)),
                );
            }
        }
        for (place, content) in contents {
            if let Some(example) = content.get("example") {
                // No schema (the event stream, metrics): any value.
                let schema = match &content["schema"] {
                    Value::Null => Value::Bool(true),
                    s => s.clone(),
                };
                found.push((place, schema, example.clone()));
            }
        }
    }
    found
}

/// Examples that do not validate against their schema, each with why.
fn invalid_examples(doc: &Value) -> Vec<String> {
    let found = examples_of(doc);
    // One JSON Schema 2020-12 document: the components as `$defs`, and
    // each example's schema beside them.
    let mut defs = doc["components"]["schemas"].clone();
    for (i, (_, schema, _)) in found.iter().enumerate() {
        defs[format!("example-{i}")] = schema.clone();
    }
    let text = serde_json::to_string(&defs)
        .unwrap()
        .replace("\"#/components/schemas/", "\"#/$defs/");
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": serde_json::from_str::<Value>(&text).unwrap(),
    });
    const URL: &str = "http://autoheal.invalid/openapi-schemas.json";
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource(URL, root).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut wrong = Vec::new();
    for (i, (place, _, example)) in found.iter().enumerate() {
        let index = match compiler.compile(&format!("{URL}#/$defs/example-{i}"), &mut schemas) {
            Ok(index) => index,
            Err(e) => {
                wrong.push(format!("{place}: its schema does not compile: {e:#}"));
                continue;
            }
        };
        if let Err(e) = schemas.validate(example, index) {
            wrong.push(format!("{place}: {e}"));
        }
    }
    wrong
}

/// Request bodies without an example, or whose example their route
/// refuses, each with why.
fn refused_request_examples(doc: &Value) -> Vec<String> {
    let by_schema = examples::schemas();
    let bodies = examples::bodies();
    let mut wrong = Vec::new();
    for (op_name, op) in operations(doc) {
        let Some(content) = op["requestBody"]["content"].as_object() else {
            continue;
        };
        for (media, c) in content {
            let (example, accepts) = match c["schema"]["$ref"].as_str() {
                Some(r) => {
                    let name = r.trim_start_matches("#/components/schemas/");
                    match by_schema.iter().find(|e| e.name == name) {
                        Some(e) => match e.accepts {
                            Some(a) => (e.value.clone(), a),
                            None => {
                                wrong.push(format!("{op_name}: {name}'s example has no check that the route takes it"));
                                continue;
                            }
                        },
                        None => {
                            wrong.push(format!("{op_name}: no example of {name}"));
                            continue;
                        }
                    }
                }
                None => {
                    let (method, path) = op_name.split_once(' ').unwrap();
                    match bodies
                        .iter()
                        .find(|b| b.method.eq_ignore_ascii_case(method) && b.path == path)
                    {
                        Some(b) => {
                            if c.get("example") != Some(&b.value) {
                                wrong.push(format!(
                                    "{op_name}: the document lacks its example ({media})"
                                ));
                            }
                            (b.value.clone(), b.accepts)
                        }
                        None => {
                            wrong.push(format!("{op_name}: its inline body has no example"));
                            continue;
                        }
                    }
                }
            };
            if let Err(why) = accepts(&example) {
                wrong.push(format!("{op_name}: the route refuses its example: {why}"));
            }
        }
    }
    wrong
}

/// Answers the document writes inline (no `$ref`) without an example.
fn inline_answers_without_example(doc: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    for (op_name, op) in operations(doc) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            for (media, c) in response["content"].as_object().into_iter().flatten() {
                if c["schema"]["$ref"].is_null() && c.get("example").is_none() {
                    wrong.push(format!("{op_name} {status} {media}"));
                }
            }
        }
    }
    wrong
}

/// Error answers (`ErrorBody`) without an example.
fn errors_without_example(doc: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    for (op_name, op) in operations(doc) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            for (media, c) in response["content"].as_object().into_iter().flatten() {
                if c["schema"]["$ref"] == ERROR_BODY && c.get("example").is_none() {
                    wrong.push(format!("{op_name} {status} {media}"));
                }
            }
        }
    }
    wrong
}

#[test]
fn every_schema_of_the_components_has_an_example() {
    let doc = document();
    assert!(doc["components"]["schemas"].as_object().unwrap().len() >= 60);
    let missing = schemas_without_example(&doc);
    assert!(
        missing.is_empty(),
        "schemas without an example (add one to http/examples.rs): {missing:#?}"
    );
}

#[test]
fn a_schema_without_an_example_is_named() {
    let mut doc = document();
    doc["components"]["schemas"]["Incident"]
        .as_object_mut()
        .unwrap()
        .remove("examples");
    doc["components"]["schemas"]["Brand_New"] = json!({"type": "object"});
    assert_eq!(
        schemas_without_example(&doc),
        vec!["Brand_New".to_string(), "Incident".to_string()]
    );
}

#[test]
fn every_example_names_a_schema_of_the_document_once() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut seen = BTreeSet::new();
    for e in examples::schemas() {
        assert!(
            schemas.contains_key(&e.name),
            "an example of {:?}, which the document does not have",
            e.name
        );
        assert!(seen.insert(e.name.clone()), "two examples of {:?}", e.name);
    }
    for b in examples::bodies() {
        let op = &doc["paths"][b.path][b.method];
        assert!(
            op["requestBody"].is_object(),
            "a body example for {} {}, which has no body",
            b.method,
            b.path
        );
    }
    for a in examples::responses() {
        let response = &doc["paths"][a.path][a.method]["responses"][a.status];
        assert!(
            response["content"].is_object(),
            "an answer example for {} {} {}, which has no such answer",
            a.method,
            a.path,
            a.status
        );
    }
}

#[test]
fn every_answer_written_inline_has_an_example() {
    let doc = document();
    let missing = inline_answers_without_example(&doc);
    assert!(
        missing.is_empty(),
        "inline answers without an example (add one to examples::responses): {missing:#?}"
    );
    let mut doc = doc;
    doc["paths"]["/api/v1/export"]["get"]["responses"]["200"]["content"]["application/toml"]
        .as_object_mut()
        .unwrap()
        .remove("example");
    assert_eq!(
        inline_answers_without_example(&doc),
        vec!["GET /api/v1/export 200 application/toml".to_string()]
    );
}

#[test]
fn every_example_validates_against_its_own_schema() {
    let doc = document();
    let found = examples_of(&doc);
    // The components', the inline bodies' and answers', the errors'.
    assert!(found.len() >= 60 + 10 + 6 + 100, "{} examples", found.len());
    let wrong = invalid_examples(&doc);
    assert!(
        wrong.is_empty(),
        "examples their schema refuses: {wrong:#?}"
    );
}

#[test]
fn an_example_that_breaks_its_schema_is_refused() {
    let mut doc = document();
    let schemas = &mut doc["components"]["schemas"];
    // A required property missing (behind a `$ref`), a wrong type, an
    // unknown field where the type denies them, a value outside an enum.
    schemas["ErrorBody"]["examples"][0]["error"]
        .as_object_mut()
        .unwrap()
        .remove("code");
    schemas["Incident"]["examples"][0]["attempts"][0]["rung"] = json!("first");
    schemas["LoginRequest"]["examples"][0]["remember_me"] = json!(true);
    schemas["Role"]["examples"][0] = json!("superuser");
    let wrong = invalid_examples(&doc);
    for name in ["ErrorBody", "Incident", "LoginRequest", "Role"] {
        let place = format!("components.schemas.{name}.examples[0]");
        assert!(
            wrong.iter().any(|w| w.starts_with(&place)),
            "{name} not refused: {wrong:#?}"
        );
    }
    assert_eq!(wrong.len(), 4, "{wrong:#?}");
}

#[test]
fn every_request_body_example_is_taken_by_its_route() {
    let doc = document();
    let wrong = refused_request_examples(&doc);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_routes_checks_refuse_what_the_route_would() {
    // Every check is a real one: a body of an unknown field, or missing
    // what is required, is refused by each.
    let odd = json!({"surprise": 1});
    for e in examples::schemas() {
        if let Some(accepts) = e.accepts {
            assert!(accepts(&odd).is_err(), "{} takes {odd}", e.name);
        }
    }
    for b in examples::bodies() {
        assert!(
            (b.accepts)(&odd).is_err(),
            "{} {} takes {odd}",
            b.method,
            b.path
        );
    }
    // And a document whose example the route refuses is named.
    let mut doc = document();
    doc["components"]["schemas"]["NewKeyRequest"]["examples"][0]["role"] = json!("superuser");
    let found = examples_of(&doc)
        .into_iter()
        .find(|(p, _, _)| p.starts_with("components.schemas.NewKeyRequest"))
        .unwrap();
    let accepts = examples::schemas()
        .into_iter()
        .find(|e| e.name == "NewKeyRequest")
        .and_then(|e| e.accepts)
        .unwrap();
    assert!(accepts(&found.2).is_err());
    // A typed body whose example has no check, and an inline body without
    // an example, are named.
    doc["paths"]["/api/v1/targets"]["post"]["requestBody"]["content"]["application/json"]
        .as_object_mut()
        .unwrap()
        .remove("example");
    doc["paths"]["/api/v1/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ["$ref"] = json!("#/components/schemas/KeyList");
    let wrong = refused_request_examples(&doc);
    assert!(
        wrong
            .iter()
            .any(|w| w.starts_with("POST /api/v1/targets: the document lacks")),
        "{wrong:#?}"
    );
    assert!(
        wrong
            .iter()
            .any(|w| w.starts_with("POST /api/v1/keys: KeyList's example has no check")),
        "{wrong:#?}"
    );
}

/// The codes an error answer of each status may carry.
const CODES: [(&str, &[&str]); 11] = [
    ("400", &["bad_request"]),
    (
        "401",
        &["unauthorized", "second_factor_required", "bad_signature"],
    ),
    ("403", &["forbidden", "not_set_up"]),
    ("404", &["not_found"]),
    ("409", &["conflict", "defined_in_file"]),
    ("412", &["version_mismatch"]),
    ("413", &["payload_too_large"]),
    ("422", &["unprocessable", "unrecognised_alert"]),
    ("429", &["too_many_requests"]),
    ("502", &["platform_refused", "platform_error"]),
    ("503", &["unavailable"]),
];

#[test]
fn every_error_answer_has_an_example_of_its_status() {
    let doc = document();
    let missing = errors_without_example(&doc);
    assert!(
        missing.is_empty(),
        "error answers without an example (add one to examples::errors): {missing:#?}"
    );
    // Each carries a code of its status.
    let mut statuses = BTreeSet::new();
    for (op_name, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            let c = &response["content"]["application/json"];
            if c["schema"]["$ref"] != ERROR_BODY {
                continue;
            }
            let code = c["example"]["error"]["code"].as_str().unwrap();
            let (_, codes) = CODES
                .iter()
                .find(|(s, _)| s == status)
                .unwrap_or_else(|| panic!("{op_name}: status {status} is new; add it to CODES"));
            assert!(
                codes.contains(&code),
                "{op_name} {status}: the example's code is {code}"
            );
            statuses.insert(status.clone());
        }
    }
    assert_eq!(statuses.len(), CODES.len(), "{statuses:?}");
    // A new error status without an example is named.
    let mut doc = doc;
    doc["paths"]["/api/v1/targets"]["get"]["responses"]["405"] = json!({"description": "", "content": {"application/json": {"schema": {"$ref": ERROR_BODY}}}});
    assert_eq!(
        errors_without_example(&doc),
        vec!["GET /api/v1/targets 405 application/json".to_string()]
    );
}

#[test]
fn every_error_example_is_the_answer_of_some_route() {
    // None is shadowed by an earlier one of its status, nor written for a
    // route that is gone.
    let doc = document();
    let used: Vec<(u16, &Value)> = operations(&doc)
        .into_iter()
        .flat_map(|(_, op)| {
            op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(status, r)| {
                    let example = r["content"]["application/json"].get("example")?;
                    Some((status.parse().ok()?, example))
                })
        })
        .collect();
    let dead: Vec<String> = examples::errors()
        .iter()
        .filter(|e| e.applies.is_some())
        .filter(|e| {
            !used
                .iter()
                .any(|(s, v)| *s == e.status.as_u16() && **v == e.value)
        })
        .map(|e| format!("{} {}", e.status, e.value))
        .collect();
    assert!(
        dead.is_empty(),
        "error examples no route answers: {dead:#?}"
    );
    // Every status has one for every route, the last of its status.
    let errors = examples::errors();
    for (status, _) in CODES {
        let of: Vec<_> = errors
            .iter()
            .filter(|e| e.status.as_str() == status)
            .collect();
        assert!(
            of.last().is_some_and(|e| e.applies.is_none())
                && of.iter().filter(|e| e.applies.is_none()).count() == 1,
            "{status}: one example for every route, and it last"
        );
    }
    // Each is its status's: as the wire says.
    for e in examples::errors() {
        let code = e.value["error"]["code"].as_str().unwrap();
        let (_, codes) = CODES.iter().find(|(s, _)| *s == e.status.as_str()).unwrap();
        assert!(codes.contains(&code), "{} {code}", e.status);
    }
}

#[test]
fn the_422_example_is_the_composition_s_own_answer() {
    let doc = document();
    let example = &doc["components"]["schemas"]["ErrorBody"]["examples"][0]["error"];
    assert_eq!(example["code"], "unprocessable");
    assert_eq!(example["pointer"], "/check/interval");
    let pointers: Vec<&str> = example["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/check/interval", "/failure_threshold"]);
    assert_eq!(example["errors"][0]["key"], "targets.web.check.interval");
}

#[test]
fn placeholders_are_no_credentials() {
    // Shaped as tokens are, each says EXAMPLE and fails the checksum.
    let text = serde_json::to_string(&document()).unwrap();
    let mut tokens = 0;
    for (i, _) in text.match_indices("ah_") {
        let rest = &text[i..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let token = &rest[..end];
        if token.matches('_').count() == 3 && token.len() > 30 {
            tokens += 1;
            assert!(token.contains("EXAMPLE"), "{token}");
            use autoheal::auth::token::{well_formed, Kind};
            for kind in [
                Kind::Key,
                Kind::Session,
                Kind::Invite,
                Kind::Setup,
                Kind::Hook,
            ] {
                assert!(!well_formed(token, kind), "{token}");
            }
        }
    }
    assert!(tokens >= 4, "{tokens} tokens");
}
