//! Alert sources: each sender's documented payloads (see
//! shared/reference/alerts-in.md and docs/alerts.md), Auto's recognition,
//! and a contract every source keeps on hostile input.

use autoheal_plugins::alert::{
    parse, recognise, Alert, AlertRequest, AlertSource, AlertState, GenericRule, Ignored,
};

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn post<'a>(content_type: Option<&'a str>, body: &'a str) -> AlertRequest<'a> {
    AlertRequest {
        method: "POST",
        content_type,
        query: "",
        body: body.as_bytes(),
    }
}

fn get(query: &str) -> AlertRequest<'_> {
    AlertRequest {
        method: "GET",
        content_type: None,
        query,
        body: b"",
    }
}

fn one(source: &AlertSource, req: &AlertRequest<'_>) -> Alert {
    let mut v = parse(source, req).unwrap_or_else(|e| panic!("{}: {e}", source.name()));
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

/// Parses with `source` and with Auto, asserting both agree.
fn both(source: AlertSource, req: &AlertRequest<'_>) -> Alert {
    let a = one(&source, req);
    assert_eq!(recognise(req), Some(source.clone()), "{a:?}");
    assert_eq!(one(&AlertSource::Auto, req), a);
    assert_eq!(a.source, source.name());
    a
}

fn all_sources() -> Vec<AlertSource> {
    vec![
        AlertSource::Auto,
        AlertSource::UptimeRobot,
        AlertSource::UptimeKuma,
        AlertSource::Alertmanager,
        AlertSource::Grafana,
        AlertSource::Gatus,
        AlertSource::Healthchecks,
        AlertSource::Pingdom,
        AlertSource::Generic(GenericRule::default()),
        AlertSource::Generic(GenericRule {
            pointer: "/status".into(),
            down: vec!["down".into(), "0".into()],
            up: vec!["up".into(), "true".into()],
        }),
    ]
}

// ---------------------------------------------------------------- UptimeRobot

#[test]
fn uptimerobot_seed_body() {
    let body = r#"{"monitor_name": "api", "monitor_url": "https://api.example.com", "alert_type": "down", "alert_datetime": "2024-01-15 10:30:00"}"#;
    let a = both(AlertSource::UptimeRobot, &post(JSON, body));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("api"));
    assert_eq!(a.labels["url"], "https://api.example.com");
    assert_eq!(a.at, Some(1_705_314_600_000));
    assert_eq!(a.fingerprint, None);
    assert_eq!(a.detail, "api down");
}

#[test]
fn uptimerobot_variables_as_json_form_and_query() {
    let json = r#"{"monitorID":"777","monitorURL":"https://shop.example.com","monitorFriendlyName":"shop",
        "alertType":"2","alertTypeFriendlyName":"Up","alertDetails":"HTTP 200 - OK",
        "alertFriendlyDuration":"5 minutes","alertDateTime":"1705314600"}"#;
    let a = both(AlertSource::UptimeRobot, &post(JSON, json));
    assert_eq!(a.state, Ok(AlertState::Up));
    assert_eq!(a.subject.as_deref(), Some("shop"));
    assert_eq!(a.labels["monitor_id"], "777");
    assert_eq!(a.fingerprint.as_deref(), Some("777@1705314600"));
    assert_eq!(a.at, Some(1_705_314_600_000));
    assert_eq!(a.detail, "HTTP 200 - OK (was down for 5 minutes)");

    let form = "monitorID=777&monitorFriendlyName=shop+front&alertType=1&alertDetails=Connection%20Timeout&alertDateTime=1705314600";
    let a = both(AlertSource::UptimeRobot, &post(FORM, form));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("shop front"));
    assert_eq!(a.detail, "Connection Timeout");

    let a = both(
        AlertSource::UptimeRobot,
        &get("monitorID=777&monitorFriendlyName=shop&alertType=1&alertTypeFriendlyName=Down"),
    );
    assert_eq!(a.state, Ok(AlertState::Down));
    // The friendly name alone.
    let a = one(
        &AlertSource::UptimeRobot,
        &get("monitorFriendlyName=shop&alertTypeFriendlyName=Down"),
    );
    assert_eq!(a.state, Ok(AlertState::Down));
}

#[test]
fn uptimerobot_ssl_expiry_is_ignored_and_garbage_refused() {
    let a = both(
        AlertSource::UptimeRobot,
        &post(JSON, r#"{"monitorFriendlyName":"shop","alertType":3}"#),
    );
    assert_eq!(a.state, Err(Ignored::SslExpiry));
    let e = parse(
        &AlertSource::UptimeRobot,
        &post(JSON, r#"{"alertType":"*alertType*"}"#),
    )
    .unwrap_err();
    assert!(e.0.contains("expected an UptimeRobot alert"), "{e}");
    assert!(e.0.contains("*alertType*"), "{e}");
    let e = parse(
        &AlertSource::UptimeRobot,
        &post(JSON, r#"{"status":"down"}"#),
    )
    .unwrap_err();
    assert!(e.0.contains("alertType (1 down, 2 up"), "{e}");
}

// ---------------------------------------------------------------- Uptime Kuma

const KUMA_DOWN: &str = r#"{"heartbeat":{"monitorID":3,"status":0,"time":"2024-01-15 10:30:00.123",
    "msg":"timeout of 48000ms exceeded","important":true,"duration":60,"retries":0,"ping":null,
    "timezone":"Europe/Berlin","localDateTime":"2024-01-15 11:30:00"},
  "monitor":{"id":3,"name":"api","url":"https://api.example.com","type":"http","hostname":null,
    "port":null,"docker_container":"api-1","docker_host":null,
    "tags":[{"tag_id":1,"monitor_id":3,"name":"env","value":"prod","color":"white"},{"name":"team","value":null}]},
  "msg":"[api] [🔴 Down] timeout of 48000ms exceeded"}"#;

#[test]
fn kuma_down_up_pending_maintenance() {
    let a = both(AlertSource::UptimeKuma, &post(JSON, KUMA_DOWN));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("api"));
    assert_eq!(a.fingerprint.as_deref(), Some("3@2024-01-15 10:30:00.123"));
    assert_eq!(a.at, Some(1_705_314_600_123));
    assert_eq!(a.labels["docker_container"], "api-1");
    assert_eq!(a.labels["url"], "https://api.example.com");
    assert_eq!(a.labels["type"], "http");
    assert_eq!(a.labels["tag.env"], "prod");
    assert_eq!(a.labels["tag.team"], "");
    assert!(!a.labels.contains_key("hostname"));
    assert_eq!(a.detail, "[api] [🔴 Down] timeout of 48000ms exceeded");
    for (status, want) in [
        ("1", Ok(AlertState::Up)),
        ("2", Err(Ignored::Pending)),
        ("3", Err(Ignored::Maintenance)),
        ("7", Err(Ignored::Other)),
    ] {
        let body = KUMA_DOWN.replace("\"status\":0", &format!("\"status\":{status}"));
        assert_eq!(
            both(AlertSource::UptimeKuma, &post(JSON, &body)).state,
            want
        );
    }
}

#[test]
fn kuma_test_notification_is_ignored() {
    let body = r#"{"heartbeat":null,"monitor":null,"msg":"Uptime Kuma Webhook - Testing"}"#;
    let a = both(AlertSource::UptimeKuma, &post(JSON, body));
    assert_eq!(a.state, Err(Ignored::Test));
    assert_eq!(a.subject, None);
    assert_eq!(a.detail, "Uptime Kuma Webhook - Testing");
}

#[test]
fn kuma_multipart_form_data() {
    let body = format!(
        "--------------------------abc123\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{KUMA_DOWN}\r\n--------------------------abc123--\r\n"
    );
    let req = post(
        Some("multipart/form-data; boundary=------------------------abc123"),
        &body,
    );
    let a = both(AlertSource::UptimeKuma, &req);
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("api"));
    // A broken boundary is not understood.
    let req = post(Some("multipart/form-data; boundary=nope"), &body);
    assert!(parse(&AlertSource::UptimeKuma, &req).is_err());
    assert!(parse(&AlertSource::Auto, &req).is_err());
}

// ---------------------------------------------------------------- Alertmanager

const AM: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"ApiDown\"}","truncatedAlerts":0,
  "status":"firing","receiver":"autoheal","groupLabels":{"alertname":"ApiDown"},
  "commonLabels":{"alertname":"ApiDown","job":"api","severity":"page"},"commonAnnotations":{},
  "externalURL":"http://alertmanager:9093",
  "alerts":[
    {"status":"firing","labels":{"alertname":"ApiDown","job":"api","instance":"api-1:80","container":"api-1"},
     "annotations":{"summary":"api-1 is down"},"startsAt":"2024-01-15T10:30:00.5Z",
     "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"aaa111"},
    {"status":"firing","labels":{"instance":"api-2:80","severity":"warn"},
     "annotations":{"description":"api-2\nis down"},"startsAt":"2024-01-15T12:30:00+02:00",
     "endsAt":"0001-01-01T00:00:00Z","fingerprint":"bbb222"},
    {"status":"resolved","labels":{"instance":"api-3:80"},"annotations":{},
     "startsAt":"2024-01-15T09:00:00Z","endsAt":"2024-01-15T10:00:00Z","fingerprint":"ccc333"}
  ]}"#;

#[test]
fn alertmanager_two_firing_one_resolved() {
    let req = post(JSON, AM);
    let v = parse(&AlertSource::Alertmanager, &req).unwrap();
    assert_eq!(recognise(&req), Some(AlertSource::Alertmanager));
    assert_eq!(parse(&AlertSource::Auto, &req).unwrap(), v);
    assert_eq!(v.len(), 3);
    let states: Vec<_> = v.iter().map(|a| a.state).collect();
    assert_eq!(
        states,
        [
            Ok(AlertState::Down),
            Ok(AlertState::Down),
            Ok(AlertState::Up)
        ]
    );
    assert!(v.iter().all(|a| a.source == "alertmanager"));
    assert!(v.iter().all(|a| a.subject.as_deref() == Some("ApiDown")));
    let fps: Vec<_> = v
        .iter()
        .map(|a| a.fingerprint.as_deref().unwrap())
        .collect();
    assert_eq!(fps, ["aaa111", "bbb222", "ccc333"]);
    assert_eq!(v[0].labels["container"], "api-1");
    assert_eq!(v[0].labels["job"], "api");
    assert_eq!(
        v[1].labels["severity"], "warn",
        "alert labels override common"
    );
    assert_eq!(v[0].at, Some(1_705_314_600_500));
    assert_eq!(v[1].at, Some(1_705_314_600_000));
    assert_eq!(v[2].at, Some(1_705_312_800_000), "resolved: endsAt");
    assert_eq!(v[0].detail, "api-1 is down");
    assert_eq!(v[1].detail, "api-2 is down");
    assert_eq!(v[2].detail, "ApiDown resolved");
}

#[test]
fn alertmanager_caps_alerts() {
    let alert = r#"{"status":"firing","labels":{"alertname":"x"}}"#;
    let many = vec![alert; 1001].join(",");
    let body = format!(r#"{{"version":"4","status":"firing","alerts":[{many}]}}"#);
    let e = parse(&AlertSource::Alertmanager, &post(JSON, &body)).unwrap_err();
    assert!(e.0.contains("at most 1000"), "{e}");
    assert!(parse(&AlertSource::Auto, &post(JSON, &body)).is_err());
    let ok = vec![alert; 1000].join(",");
    let body = format!(r#"{{"version":"4","status":"firing","alerts":[{ok}]}}"#);
    assert_eq!(
        parse(&AlertSource::Auto, &post(JSON, &body)).unwrap().len(),
        1000
    );
}

// ---------------------------------------------------------------- Grafana

const GRAFANA: &str = r#"{"receiver":"autoheal","status":"firing","orgId":1,
  "alerts":[{"status":"firing","labels":{"alertname":"HighErrors","service":"checkout"},
    "annotations":{},"startsAt":"2024-01-15T10:30:00Z","endsAt":"0001-01-01T00:00:00Z",
    "generatorURL":"http://grafana/alerting/grafana/x/view","fingerprint":"57c6d9296de2ad39",
    "silenceURL":"http://grafana/alerting/silence/new","dashboardURL":"","panelURL":"",
    "values":{"B":22,"C":1},"valueString":"[ var='B' labels={service=checkout} value=22 ]"}],
  "groupLabels":{"alertname":"HighErrors"},"commonLabels":{"alertname":"HighErrors","service":"checkout"},
  "commonAnnotations":{},"externalURL":"http://grafana/","version":"1","groupKey":"{}:{}",
  "truncatedAlerts":0,"title":"[FIRING:1] HighErrors (checkout)","state":"alerting",
  "message":"**Firing**\n\nValue: B=22"}"#;

#[test]
fn grafana_unified_alerting() {
    let a = both(AlertSource::Grafana, &post(JSON, GRAFANA));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("HighErrors"));
    assert_eq!(a.labels["service"], "checkout");
    assert_eq!(a.fingerprint.as_deref(), Some("57c6d9296de2ad39"));
    assert_eq!(a.at, Some(1_705_314_600_000));
    assert_eq!(a.detail, "[ var='B' labels={service=checkout} value=22 ]");
    // Grafana's payload is Alertmanager's shape: that source reads it too.
    let am = one(&AlertSource::Alertmanager, &post(JSON, GRAFANA));
    assert_eq!(am.state, Ok(AlertState::Down));
    assert_eq!(am.source, "alertmanager");
    // PUT works the same.
    let mut req = post(JSON, GRAFANA);
    req.method = "PUT";
    assert_eq!(one(&AlertSource::Grafana, &req).state, Ok(AlertState::Down));
}

#[test]
fn grafana_test_and_legacy() {
    let test = GRAFANA
        .replace(
            r#""labels":{"alertname":"HighErrors","service":"checkout"}"#,
            r#""labels":{"alertname":"TestAlert","instance":"Grafana"}"#,
        )
        .replace(
            r#","commonLabels":{"alertname":"HighErrors","service":"checkout"}"#,
            "",
        );
    assert_eq!(
        both(AlertSource::Grafana, &post(JSON, &test)).state,
        Err(Ignored::Test)
    );
    let legacy = r#"{"dashboardId":1,"evalMatches":[{"value":1,"metric":"Count","tags":{}}],
      "message":"Notification Message","orgId":1,"panelId":2,"ruleId":7,"ruleName":"Panel Title alert",
      "ruleUrl":"http://grafana/d/x","state":"alerting","tags":{"team":"web"},"title":"[Alerting] Panel Title alert"}"#;
    let a = both(AlertSource::Grafana, &post(JSON, legacy));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("Panel Title alert"));
    assert_eq!(a.labels["team"], "web");
    assert_eq!(a.detail, "Notification Message");
    let ok = legacy.replace(r#""state":"alerting""#, r#""state":"ok""#);
    assert_eq!(
        one(&AlertSource::Grafana, &post(JSON, &ok)).state,
        Ok(AlertState::Up)
    );
}

// ---------------------------------------------------------------- Gatus

#[test]
fn gatus_json_and_query() {
    let body = r#"{"endpoint_name":"api","group":"core","url":"https://api.example.com/health",
      "status":"TRIGGERED","description":"healthcheck failed 3 times","errors":""}"#;
    let a = both(AlertSource::Gatus, &post(JSON, body));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("api"));
    assert_eq!(a.labels["group"], "core");
    assert_eq!(a.labels["url"], "https://api.example.com/health");
    assert_eq!(a.detail, "healthcheck failed 3 times");
    assert_eq!((a.fingerprint, a.at), (None, None));
    let a = both(
        AlertSource::Gatus,
        &get("endpoint_name=api&status=RESOLVED"),
    );
    assert_eq!(a.state, Ok(AlertState::Up));
    assert_eq!(a.subject.as_deref(), Some("api"));
    let e = parse(&AlertSource::Gatus, &get("endpoint_name=api")).unwrap_err();
    assert!(e.0.contains("TRIGGERED or RESOLVED"), "{e}");
}

// ---------------------------------------------------------------- Healthchecks

#[test]
fn healthchecks_custom_body_query_and_json() {
    let body = r#"{"name":"nightly-backup","status":"down","code":"5f3b1c2e-0000-4000-8000-000000000001",
      "now":"2024-01-15T10:30:00+00:00","tags":"prod backup"}"#;
    let a = both(AlertSource::Healthchecks, &post(JSON, body));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("nightly-backup"));
    assert_eq!(
        a.fingerprint.as_deref(),
        Some("5f3b1c2e-0000-4000-8000-000000000001@2024-01-15T10:30:00+00:00")
    );
    assert_eq!(a.at, Some(1_705_314_600_000));
    assert!(a.labels.contains_key("tag.prod") && a.labels.contains_key("tag.backup"));
    assert_eq!(a.detail, "nightly-backup is down");

    let a = both(
        AlertSource::Healthchecks,
        &get("name=nightly-backup&status=up"),
    );
    assert_eq!(a.state, Ok(AlertState::Up));

    let a = both(
        AlertSource::Healthchecks,
        &post(FORM, "check=nightly-backup&status=down"),
    );
    assert_eq!(a.state, Ok(AlertState::Down));

    // $JSON: Healthchecks' own check JSON.
    let body = r#"{"name":"nightly-backup","slug":"nightly-backup","tags":"prod","desc":"",
      "grace":3600,"n_pings":12,"status":"down","started":false,
      "last_ping":"2024-01-15T10:30:00+00:00","next_ping":null,"manual_resume":false,
      "methods":"","uuid":"5f3b1c2e-0000-4000-8000-000000000001"}"#;
    let a = both(AlertSource::Healthchecks, &post(JSON, body));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.at, Some(1_705_314_600_000));
    assert!(a.fingerprint.is_some());
}

// ---------------------------------------------------------------- Pingdom

#[test]
fn pingdom_down_and_up() {
    let body = r#"{"check_id":12345,"check_name":"api","check_type":"HTTP",
      "check_params":{"basic_auth":false,"encryption":true,"full_url":"https://api.example.com/health",
        "header":"User-Agent:Pingdom.com_bot","hostname":"api.example.com","ipv6":false,"port":443,"url":"/health"},
      "tags":["prod"],"previous_state":"UP","current_state":"DOWN","importance_level":"HIGH",
      "state_changed_timestamp":1705314600,"state_changed_utc_time":"2024-01-15T10:30:00",
      "long_description":"HTTP Server Error 503 Service Unavailable","description":"HTTP Error 503",
      "first_probe":{"ip":"1.2.3.4","ipv6":"","location":"Stockholm, Sweden"}}"#;
    let a = both(AlertSource::Pingdom, &post(JSON, body));
    assert_eq!(a.state, Ok(AlertState::Down));
    assert_eq!(a.subject.as_deref(), Some("api"));
    assert_eq!(a.labels["hostname"], "api.example.com");
    assert_eq!(a.labels["check_id"], "12345");
    assert!(a.labels.contains_key("tag.prod"));
    assert_eq!(a.fingerprint.as_deref(), Some("12345@1705314600"));
    assert_eq!(a.at, Some(1_705_314_600_000));
    assert_eq!(a.detail, "HTTP Error 503");
    let up = body
        .replace(r#""previous_state":"UP""#, r#""previous_state":"DOWN""#)
        .replace(r#""current_state":"DOWN""#, r#""current_state":"UP""#);
    assert_eq!(
        both(AlertSource::Pingdom, &post(JSON, &up)).state,
        Ok(AlertState::Up)
    );
}

// ---------------------------------------------------------------- Generic

#[test]
fn generic_rules() {
    let any = AlertSource::Generic(GenericRule::default());
    let a = one(&any, &post(None, "whatever"));
    assert_eq!((a.state, a.source), (Ok(AlertState::Down), "generic"));
    assert_eq!(one(&any, &get("")).state, Ok(AlertState::Down));

    let rule = AlertSource::Generic(GenericRule {
        pointer: "/data/state".into(),
        down: vec!["CRIT".into(), "2".into()],
        up: vec!["ok".into(), "true".into()],
    });
    let at = |body: &str| parse(&rule, &post(JSON, body)).map(|v| v[0].state);
    assert_eq!(at(r#"{"data":{"state":"crit"}}"#), Ok(Ok(AlertState::Down)));
    assert_eq!(at(r#"{"data":{"state":2}}"#), Ok(Ok(AlertState::Down)));
    assert_eq!(at(r#"{"data":{"state":"OK"}}"#), Ok(Ok(AlertState::Up)));
    assert_eq!(at(r#"{"data":{"state":true}}"#), Ok(Ok(AlertState::Up)));
    let e = at(r#"{"data":{"state":"warn"}}"#).unwrap_err();
    assert!(
        e.0.contains("\"warn\"") && e.0.contains("CRIT") && e.0.contains("ok"),
        "{e}"
    );
    let e = at(r#"{"data":{}}"#).unwrap_err();
    assert!(e.0.contains("nothing at /data/state"), "{e}");
    // Form fields and the query string, when the body is not JSON.
    let flat = AlertSource::Generic(GenericRule {
        pointer: "/state".into(),
        down: vec!["down".into()],
        up: vec![],
    });
    assert_eq!(
        one(&flat, &post(FORM, "state=down")).state,
        Ok(AlertState::Down)
    );
    assert_eq!(one(&flat, &get("state=DOWN")).state, Ok(AlertState::Down));
}

#[test]
fn generic_rule_validation_and_serde() {
    let rule = |pointer: &str, down: &[&str], up: &[&str]| {
        AlertSource::Generic(GenericRule {
            pointer: pointer.into(),
            down: down.iter().map(|s| s.to_string()).collect(),
            up: up.iter().map(|s| s.to_string()).collect(),
        })
    };
    assert!(rule("", &[], &[]).validate().is_ok());
    assert!(rule("/status", &["down"], &["up"]).validate().is_ok());
    assert!(rule("status", &["down"], &[]).validate().is_err());
    assert!(rule("/status", &[""], &[]).validate().is_err());
    assert!(rule("/status", &[], &[]).validate().is_err());
    assert!(rule("/status", &["x"], &["X"]).validate().is_err());
    let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(rule("/s", &many, &[]).validate().is_err());
    assert!(AlertSource::Auto.validate().is_ok());

    let s: AlertSource =
        serde_json::from_str(r#"{"type":"generic","pointer":"/status","down":["down"]}"#).unwrap();
    assert_eq!(s, rule("/status", &["down"], &[]));
    let s: AlertSource = serde_json::from_str(r#"{"type":"uptimerobot"}"#).unwrap();
    assert_eq!(s, AlertSource::UptimeRobot);
    let s: AlertSource = serde_json::from_str(r#"{"type":"uptime_robot"}"#).unwrap();
    assert_eq!(s, AlertSource::UptimeRobot);
    for source in all_sources() {
        let json = serde_json::to_value(&source).unwrap();
        assert_eq!(json["type"], source.name());
        let back: AlertSource = serde_json::from_value(json).unwrap();
        assert_eq!(back, source);
    }
    assert!(serde_json::from_str::<AlertSource>(r#"{"type":"auto","x":1}"#).is_err());
    assert!(serde_json::from_str::<AlertSource>(r#"{"type":"generic","x":1}"#).is_err());
    let e = serde_json::from_str::<AlertSource>(r#"{"type":"grafana","down":["x"]}"#).unwrap_err();
    assert!(e.to_string().contains("only for type generic"), "{e}");
    let e = serde_json::from_str::<AlertSource>(r#"{"type":"nagios"}"#).unwrap_err();
    assert!(e.to_string().contains("unknown alert source type"), "{e}");
}

#[test]
fn alert_serializes_state_or_ignored() {
    let a = both(AlertSource::UptimeKuma, &post(JSON, KUMA_DOWN));
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["source"], "uptime_kuma");
    assert_eq!(v["state"], "down");
    assert!(v.get("ignored").is_none());
    assert_eq!(v["subject"], "api");
    let t = both(
        AlertSource::UptimeKuma,
        &post(JSON, r#"{"heartbeat":null,"monitor":null,"msg":"t"}"#),
    );
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["ignored"], "test");
    assert!(v.get("state").is_none());
}

// ---------------------------------------------------------------- Auto

#[test]
fn auto_refuses_what_it_does_not_know() {
    for req in [
        post(JSON, r#"{"hello":"world"}"#),
        post(None, "plain text"),
        get(""),
        post(JSON, "[1,2,3]"),
    ] {
        assert_eq!(recognise(&req), None);
        let e = parse(&AlertSource::Auto, &req).unwrap_err();
        for name in [
            "Alertmanager",
            "Grafana",
            "Uptime Kuma",
            "UptimeRobot",
            "Gatus",
            "Healthchecks",
            "Pingdom",
        ] {
            assert!(e.0.contains(name), "{e}");
        }
    }
    // Each specific source says what it expected.
    for source in all_sources() {
        if matches!(source, AlertSource::Auto | AlertSource::Generic(_)) {
            continue;
        }
        let e = parse(&source, &post(JSON, r#"{"hello":"world"}"#)).unwrap_err();
        assert!(e.0.starts_with("expected"), "{}: {e}", source.name());
    }
}

// ---------------------------------------------------------------- the contract

mod contract {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let key = prop_oneof![
            Just("alerts".to_string()),
            Just("version".to_string()),
            Just("orgId".to_string()),
            Just("title".to_string()),
            Just("state".to_string()),
            Just("status".to_string()),
            Just("heartbeat".to_string()),
            Just("monitor".to_string()),
            Just("msg".to_string()),
            Just("tags".to_string()),
            Just("labels".to_string()),
            Just("current_state".to_string()),
            Just("check_id".to_string()),
            Just("alertType".to_string()),
            Just("name".to_string()),
            Just("startsAt".to_string()),
            "[a-zA-Z_]{0,8}",
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            prop_oneof![
                Just("firing".to_string()),
                Just("resolved".to_string()),
                Just("TRIGGERED".to_string()),
                Just("down".to_string()),
                Just("up".to_string()),
                Just("0001-01-01T00:00:00Z".to_string()),
                Just("2024-01-15 10:30:00".to_string()),
                ".{0,40}",
            ]
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..8)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn content_type() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some("application/json".to_string())),
            Just(Some("application/x-www-form-urlencoded".to_string())),
            Just(Some("multipart/form-data; boundary=X".to_string())),
            Just(Some("multipart/form-data; boundary=".to_string())),
            Just(Some("multipart/form-data; boundary=\"".to_string())),
            Just(Some("multipart/form-data".to_string())),
            ".{0,60}".prop_map(Some),
            "multipart/form-data; boundary=.{0,80}".prop_map(Some),
        ]
    }

    fn multipart_body() -> impl Strategy<Value = Vec<u8>> {
        (prop::collection::vec(
            prop_oneof![
                Just(b"--X".to_vec()),
                Just(b"--X--".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"Content-Disposition: form-data; name=\"data\"".to_vec()),
                Just(b"Content-Disposition: form-data; name=data".to_vec()),
                Just(KUMA_DOWN.as_bytes().to_vec()),
                Just(b"{\"heartbeat\":null}".to_vec()),
                prop::collection::vec(any::<u8>(), 0..16),
            ],
            0..12,
        ),)
            .prop_map(|(parts,)| parts.concat())
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            multipart_body(),
            "([a-zA-Z_*]{1,12}=[^&]{0,12}&?){0,6}".prop_map(String::into_bytes),
        ]
    }

    fn query() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            ".{0,80}",
            "((alertType|alert_type|status|name|endpoint_name|monitorFriendlyName|state)=(1|2|3|down|up|TRIGGERED|RESOLVED|%ZZ|%00|)&?){0,5}",
        ]
    }

    /// What every source promises on any request.
    fn check_contract(source: &AlertSource, req: &AlertRequest<'_>) {
        match parse(source, req) {
            Ok(alerts) => {
                assert!(alerts.len() <= autoheal_plugins::alert::MAX_ALERTS);
                for a in &alerts {
                    assert!(a.detail.chars().count() <= 500, "{a:?}");
                    assert!(!a.detail.chars().any(char::is_control), "{a:?}");
                    assert!(!a.detail.is_empty(), "{a:?}");
                    if let Some(s) = &a.subject {
                        assert!(s.chars().count() <= 500 && !s.chars().any(char::is_control));
                    }
                    if *source != AlertSource::Auto {
                        assert_eq!(a.source, source.name());
                    }
                    serde_json::to_string(a).unwrap();
                }
            }
            Err(e) => assert!(!e.0.is_empty()),
        }
        let _ = recognise(req);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn hostile_input_never_panics(
            method in prop_oneof![Just("GET".to_string()), Just("POST".to_string()), Just("PUT".to_string()), ".{0,8}"],
            ct in content_type(),
            query in query(),
            body in body(),
        ) {
            let req = AlertRequest { method: &method, content_type: ct.as_deref(), query: &query, body: &body };
            for source in all_sources() {
                check_contract(&source, &req);
            }
        }
    }

    #[test]
    fn every_sample_keeps_the_contract() {
        let long = format!(
            r#"{{"heartbeat":{{"status":0,"msg":"x"}},"monitor":{{"name":"{}"}},"msg":"{}"}}"#,
            "n\\u0007".repeat(400),
            "line\\nbreak ".repeat(200)
        );
        for body in [KUMA_DOWN, AM, GRAFANA, long.as_str()] {
            for source in all_sources() {
                check_contract(&source, &post(JSON, body));
            }
        }
        let a = one(&AlertSource::UptimeKuma, &post(JSON, &long));
        assert_eq!(a.detail.chars().count(), 500);
        assert!(a.detail.ends_with('…'));
    }
}

// ---------------------------------------------------------------- signatures

mod signatures {
    use autoheal_plugins::alert::signature::{verify, Scheme, SignatureError};
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;

    /// HMAC-SHA256 written out from RFC 2104, independent of the `hmac`
    /// crate the module uses.
    fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new()
            .chain_update(&ipad)
            .chain_update(msg)
            .finalize();
        Sha256::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize()
            .to_vec()
    }

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    const NOW: i64 = 1_705_314_600;

    #[test]
    fn github_rfc4231_vector_and_tampering() {
        // RFC 4231 test case 2.
        let sig = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let body = b"what do ya want for nothing?";
        let h = headers(&[("x-hub-signature-256", sig)]);
        assert_eq!(verify(Scheme::Github, b"Jefe", &h, body, NOW), Ok(None));
        assert_eq!(
            verify(
                Scheme::Github,
                b"Jefe",
                &h,
                b"what do ya want for nothing!",
                NOW
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Scheme::Github, b"jefe", &h, body, NOW),
            Err(SignatureError::Mismatch)
        );
        let upper = headers(&[(
            "x-hub-signature-256",
            &sig.to_uppercase().replace("SHA256=", "sha256="),
        )]);
        assert_eq!(verify(Scheme::Github, b"Jefe", &upper, body, NOW), Ok(None));
        assert_eq!(
            verify(Scheme::Github, b"Jefe", &headers(&[]), body, NOW),
            Err(SignatureError::Missing("x-hub-signature-256"))
        );
        for bad in ["5bdc", "sha1=abcd", "sha256=zz", "sha256="] {
            let r = verify(
                Scheme::Github,
                b"Jefe",
                &headers(&[("x-hub-signature-256", bad)]),
                body,
                NOW,
            );
            assert!(
                matches!(
                    r,
                    Err(SignatureError::Malformed(_)) | Err(SignatureError::Mismatch)
                ),
                "{bad}: {r:?}"
            );
        }
        assert!(matches!(
            verify(Scheme::Github, b"", &h, body, NOW),
            Err(SignatureError::Malformed(_))
        ));
        // A long key (hashed first) agrees with the independent HMAC.
        let key = [7u8; 100];
        let sig = format!("sha256={}", hex::encode(hmac(&key, b"{}")));
        let h = headers(&[("x-hub-signature-256", &sig)]);
        assert_eq!(verify(Scheme::Github, &key, &h, b"{}", NOW), Ok(None));
    }

    #[test]
    fn stripe() {
        let secret = b"whsec_test_secret";
        let body = br#"{"id":"evt_1","type":"charge.failed"}"#;
        let t = NOW - 10;
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        let good = hex::encode(hmac(secret, &signed));
        let value = format!("t={t},v1={},v1={good},v0=abc", "00".repeat(32));
        let h = headers(&[("stripe-signature", &value)]);
        assert_eq!(
            verify(Scheme::Stripe, secret, &h, body, NOW),
            Ok(Some(format!("{t}.{good}")))
        );
        assert_eq!(
            verify(Scheme::Stripe, secret, &h, b"{}", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Scheme::Stripe, secret, &h, body, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Scheme::Stripe, secret, &h, body, t - 301),
            Err(SignatureError::Stale)
        );
        assert!(verify(Scheme::Stripe, secret, &h, body, t + 300).is_ok());
        assert_eq!(
            verify(Scheme::Stripe, secret, &headers(&[]), body, NOW),
            Err(SignatureError::Missing("stripe-signature"))
        );
        for bad in [
            format!("v1={good}"),
            format!("t={t}"),
            format!("t=x,v1={good}"),
            String::new(),
        ] {
            let r = verify(
                Scheme::Stripe,
                secret,
                &headers(&[("stripe-signature", &bad)]),
                body,
                NOW,
            );
            assert!(
                matches!(r, Err(SignatureError::Malformed(_))),
                "{bad}: {r:?}"
            );
        }
        // An extreme timestamp is stale, not an overflow.
        let h = headers(&[("stripe-signature", "t=-9223372036854775808,v1=00")]);
        assert_eq!(
            verify(Scheme::Stripe, secret, &h, body, i64::MAX),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn standard_webhooks_spec_example() {
        // The example of the Standard Webhooks specification and its
        // reference libraries.
        let h = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            verify(Scheme::StandardWebhooks, secret, &h, body, 1_614_265_330),
            Ok(Some("msg_p5jXN8AQM9LWM0D4loKWxJek".to_string()))
        );
        assert_eq!(
            verify(
                Scheme::StandardWebhooks,
                secret,
                &h,
                body,
                1_614_265_330 + 301
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(
                Scheme::StandardWebhooks,
                secret,
                &h,
                br#"{"test": 2432232315}"#,
                1_614_265_330
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn standard_webhooks_raw_secret_rotation_and_missing() {
        let key = b"a raw secret of twenty-four+ bytes";
        let body = b"{\"event\":\"down\"}";
        let ts = NOW.to_string();
        let mut signed = format!("msg_1.{ts}.").into_bytes();
        signed.extend_from_slice(body);
        let good = base64::engine::general_purpose::STANDARD.encode(hmac(key, &signed));
        let list = format!("v1a,xyz v1,AAAA v1,{good}");
        let h = headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &list),
        ]);
        assert_eq!(
            verify(Scheme::StandardWebhooks, key, &h, body, NOW),
            Ok(Some("msg_1".into()))
        );
        // The same key given as whsec_<base64>.
        let whsec = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        assert!(verify(Scheme::StandardWebhooks, whsec.as_bytes(), &h, body, NOW).is_ok());
        assert!(matches!(
            verify(Scheme::StandardWebhooks, b"whsec_***", &h, body, NOW),
            Err(SignatureError::Malformed(_))
        ));
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let pairs: Vec<(&str, &str)> = [
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", ts.as_str()),
                ("webhook-signature", list.as_str()),
            ]
            .into_iter()
            .filter(|(k, _)| *k != missing)
            .collect();
            assert_eq!(
                verify(Scheme::StandardWebhooks, key, &headers(&pairs), body, NOW),
                Err(SignatureError::Missing(missing))
            );
        }
        let h = headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", "v2,abc"),
        ]);
        assert!(matches!(
            verify(Scheme::StandardWebhooks, key, &h, body, NOW),
            Err(SignatureError::Malformed(_))
        ));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn hostile_headers_never_panic(
                sig in ".{0,120}",
                ts in prop_oneof![".{0,24}".boxed(), any::<i64>().prop_map(|t| t.to_string()).boxed()],
                id in ".{0,24}",
                secret in prop::collection::vec(any::<u8>(), 0..48),
                body in prop::collection::vec(any::<u8>(), 0..64),
                now in any::<i64>(),
            ) {
                let h = headers(&[
                    ("x-hub-signature-256", &sig),
                    ("stripe-signature", &sig),
                    ("webhook-signature", &sig),
                    ("webhook-id", &id),
                    ("webhook-timestamp", &ts),
                ]);
                for scheme in [Scheme::Github, Scheme::Stripe, Scheme::StandardWebhooks] {
                    let _ = verify(scheme, &secret, &h, &body, now);
                    let _ = verify(scheme, b"whsec_", &h, &body, now);
                }
            }
        }
    }
}
