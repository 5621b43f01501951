//! The Coolify client and actions against the local fake (tests/fake_coolify).

mod fake_coolify;

use std::time::{Duration, Instant};

use autoheal_core::ActionOutcome;
use autoheal_plugins::action::coolify::{CoolifyAction, CoolifyOp};
use autoheal_plugins::platform::coolify::{
    parse_application, parse_deploy_answer, parse_deployment, parse_deployments, parse_queued,
    AppStatus, CoolifyClient, CoolifyError, CoolifyOptions, DeploymentStatus,
};
use autoheal_plugins::{Action, ActionContext, HttpClients};
use fake_coolify::{FakeCoolify, TOKEN, TO_FAILED, TO_FINISHED};
use proptest::prelude::*;

const POLL: Duration = Duration::from_millis(50);

fn http() -> reqwest::Client {
    HttpClients::new().unwrap().verified().clone()
}

/// A client whose retry waits are short.
fn client(fake: &FakeCoolify, token: &str) -> CoolifyClient {
    CoolifyClient::new_with(
        &fake.base_url(),
        token,
        http(),
        CoolifyOptions {
            timeout: Duration::from_secs(5),
            max_wait: Duration::from_millis(200),
        },
    )
    .unwrap()
}

fn action(fake: &FakeCoolify, app: &str, op: CoolifyOp) -> CoolifyAction {
    CoolifyAction::new(client(fake, TOKEN), app, op, POLL, Duration::from_secs(20))
}

fn failed(o: &ActionOutcome) -> &str {
    match o {
        ActionOutcome::Failed { detail } => detail,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn applications_are_read_with_their_status() {
    let fake = FakeCoolify::start().await;
    let a = fake.add_app("web", "running:healthy");
    fake.add_app("db", "exited:0");
    let c = client(&fake, TOKEN);
    let all = c.applications().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].status.state, "exited");
    assert_eq!(all[1].status.health, "0");
    let one = c.application(&a).await.unwrap();
    assert_eq!(one.name, "web");
    assert_eq!(one.fqdn.as_deref(), Some("https://web.example.com"));
    assert!(one.status.is_healthy());
    match c.application("nope").await {
        Err(CoolifyError::NotFound(m)) => assert!(m.contains("nope"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_restart_followed_to_finished_succeeds() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    let (outcome, detail) = action(&fake, &app, CoolifyOp::Restart)
        .run_with_detail()
        .await;
    assert_eq!(outcome, ActionOutcome::Succeeded, "{detail}");
    let dep = &fake.deployments(&app)[0];
    assert!(
        detail.starts_with(&format!("deployment {dep} of web ({app}) finished after ")),
        "{detail}"
    );
    assert_eq!(fake.status(dep).as_deref(), Some("finished"));
    assert_eq!(
        fake.count("POST", &format!("/api/v1/applications/{app}/restart")),
        1
    );
    // queued → in_progress → finished: three reads.
    assert_eq!(fake.count("GET", &format!("/api/v1/deployments/{dep}")), 3);
    assert_eq!(fake.app_status(&app).as_deref(), Some("running:healthy"));
}

#[tokio::test]
async fn a_deploy_that_fails_is_a_failure_naming_the_status() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    fake.set_new_path(TO_FAILED);
    let outcome = action(&fake, &app, CoolifyOp::Deploy { force: true })
        .run(&ActionContext::default())
        .await;
    let d = failed(&outcome);
    assert!(d.contains("ended failed"), "{d}");
    assert!(d.contains(&fake.deployments(&app)[0]), "{d}");
    assert_eq!(fake.count("POST", "/api/v1/deploy"), 1);
    let q = fake.last_query();
    assert_eq!(q["uuid"], app);
    assert_eq!(q["force"], "true");

    // cancelled-by-user is a failure too.
    fake.set_new_path(&["queued", "cancelled-by-user"]);
    let (o, d) = action(&fake, &app, CoolifyOp::Deploy { force: false })
        .run_with_detail()
        .await;
    assert!(d.contains("ended cancelled-by-user"), "{d}");
    assert!(matches!(o, ActionOutcome::Failed { .. }));
    assert_eq!(fake.last_query()["force"], "false");
}

#[tokio::test]
async fn a_running_deployment_is_followed_not_doubled() {
    for field in ["application_uuid", "resource_uuid"] {
        let fake = FakeCoolify::start().await;
        fake.set_app_field(field);
        let app = fake.add_app("web", "running:unhealthy");
        let other = fake.add_app("other", "running:healthy");
        fake.add_deployment(&other, TO_FINISHED);
        let running = fake.add_deployment(&app, TO_FINISHED);
        fake.advance(&running); // in_progress
        let c = client(&fake, TOKEN);
        assert!(c.deploying(&app).await.unwrap());
        for op in [
            CoolifyOp::Restart,
            CoolifyOp::Deploy { force: false },
            CoolifyOp::Start { force: false },
        ] {
            fake.set_status(&running, "in_progress");
            let (outcome, detail) = action(&fake, &app, op).run_with_detail().await;
            assert_eq!(outcome, ActionOutcome::Succeeded, "{detail}");
            assert!(
                detail.contains(&format!(
                    "deployment {running} was already in progress (in_progress)"
                )),
                "{detail}"
            );
        }
        assert_eq!(fake.count("POST", "/api/v1/deploy"), 0);
        assert_eq!(
            fake.count("POST", &format!("/api/v1/applications/{app}/restart")),
            0
        );
        assert_eq!(
            fake.count("POST", &format!("/api/v1/applications/{app}/start")),
            0
        );
        assert_eq!(fake.deployments(&app), vec![running.clone()]);
        assert!(!c.deploying(&app).await.unwrap(), "finished now");
    }
}

#[tokio::test]
async fn start_sends_force_and_follows() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "exited");
    let (o, d) = action(&fake, &app, CoolifyOp::Start { force: true })
        .run_with_detail()
        .await;
    assert_eq!(o, ActionOutcome::Succeeded, "{d}");
    let q = fake.last_query();
    assert_eq!(q["force"], "true");
    assert_eq!(q["instant_deploy"], "false");
    let stopped = client(&fake, TOKEN).stop(&app).await.unwrap();
    assert_eq!(stopped.deployment_uuid, None);
    assert_eq!(fake.app_status(&app).as_deref(), Some("exited"));
}

#[tokio::test]
async fn an_answer_without_a_deployment_is_success_on_its_2xx() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    fake.set_answer_deployment(false);
    for op in [CoolifyOp::Restart, CoolifyOp::Deploy { force: false }] {
        let (o, d) = action(&fake, &app, op).run_with_detail().await;
        assert_eq!(o, ActionOutcome::Succeeded, "{d}");
        assert!(d.contains("no deployment to follow"), "{d}");
        assert!(d.contains("queued"), "{d}");
    }
    assert!(fake.deployments(&app).is_empty());
}

#[tokio::test]
async fn a_post_refused_with_405_is_sent_as_get() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    fake.set_post_not_allowed(true);
    let (o, d) = action(&fake, &app, CoolifyOp::Restart)
        .run_with_detail()
        .await;
    assert_eq!(o, ActionOutcome::Succeeded, "{d}");
    let path = format!("/api/v1/applications/{app}/restart");
    assert_eq!(fake.count("POST", &path), 1);
    assert_eq!(fake.count("GET", &path), 1);
    let q = client(&fake, TOKEN).deploy(&app, false).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].resource_uuid.as_deref(), Some(app.as_str()));
    assert!(q[0].deployment_uuid.is_some());
    assert_eq!(fake.count("GET", "/api/v1/deploy"), 1);
}

#[tokio::test]
async fn following_stops_at_the_timeout() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    fake.set_reads_per_step(0);
    let a = CoolifyAction::new(
        client(&fake, TOKEN),
        &app,
        CoolifyOp::Deploy { force: false },
        POLL,
        Duration::from_millis(400),
    );
    let t = Instant::now();
    let outcome = a.run(&ActionContext::default()).await;
    let d = failed(&outcome);
    let dep = &fake.deployments(&app)[0];
    assert!(
        d.starts_with(&format!("timed out following deployment {dep}")),
        "{d}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_429_is_waited_out_then_succeeds() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    fake.throttle(2, 0);
    let (o, d) = action(&fake, &app, CoolifyOp::Restart)
        .run_with_detail()
        .await;
    assert_eq!(o, ActionOutcome::Succeeded, "{d}");
    // Always 429: the client gives up after its retries.
    fake.throttle(100, 1);
    match client(&fake, TOKEN).application(&app).await {
        Err(CoolifyError::RateLimited { retry_after }) => {
            assert!(retry_after <= Duration::from_millis(200))
        }
        other => panic!("{other:?}"),
    }
    fake.throttle(0, 0);
    // The 429 refused the POST: it is retried.
    fake.throttle(1, 0);
    client(&fake, TOKEN).restart(&app).await.unwrap();
    assert_eq!(
        fake.count("POST", &format!("/api/v1/applications/{app}/restart")),
        3
    );
}

#[tokio::test]
async fn a_5xx_on_a_read_is_retried_on_a_post_not() {
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    let c = client(&fake, TOKEN);
    fake.fail_next("GET", 2, 502);
    assert_eq!(c.application(&app).await.unwrap().name, "web");
    assert_eq!(fake.count("GET", &format!("/api/v1/applications/{app}")), 3);

    fake.fail_next("POST", 1, 500);
    match c.deploy(&app, false).await {
        Err(CoolifyError::Server(500, m)) => assert!(m.contains("Server Error"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.count("POST", "/api/v1/deploy"), 1);
    assert_eq!(fake.count("GET", "/api/v1/deploy"), 0);
    assert!(fake.deployments(&app).is_empty());

    fake.fail_next("POST", 1, 503);
    let (o, d) = action(&fake, &app, CoolifyOp::Restart)
        .run_with_detail()
        .await;
    assert!(matches!(o, ActionOutcome::Failed { .. }));
    assert!(d.contains("HTTP 503"), "{d}");
    assert_eq!(
        fake.count("POST", &format!("/api/v1/applications/{app}/restart")),
        1
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_never_shown() {
    const CANARY: &str = "7|CANARYtokenXYZ";
    let fake = FakeCoolify::start().await;
    let app = fake.add_app("web", "running:unhealthy");
    let a = CoolifyAction::new(
        client(&fake, CANARY),
        &app,
        CoolifyOp::Deploy { force: false },
        POLL,
        Duration::from_secs(5),
    );
    assert!(!format!("{a:?}").contains("CANARY"));
    let (o, d) = a.run_with_detail().await;
    assert!(d.contains("refused"), "{d}");
    assert!(!d.contains("CANARY"), "{d}");
    assert!(!format!("{o:?}").contains("CANARY"));
    assert!(fake.deployments(&app).is_empty());

    // API access off: the same words, whatever the token.
    fake.set_api_disabled(true);
    let (_, d) = action(&fake, &app, CoolifyOp::Restart)
        .run_with_detail()
        .await;
    assert!(d.contains("API access is not enabled"), "{d}");
    match client(&fake, TOKEN).running_deployments().await {
        Err(e @ CoolifyError::Unauthorized) => assert!(!format!("{e:?}").contains(TOKEN)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_strings_parse() {
    let s = AppStatus::parse("running:healthy");
    assert_eq!(
        (s.state.as_str(), s.health.as_str()),
        ("running", "healthy")
    );
    assert!(s.is_healthy());
    let s = AppStatus::parse("exited");
    assert_eq!((s.state.as_str(), s.health.as_str()), ("exited", ""));
    assert_eq!(s.to_string(), "exited");
    let s = AppStatus::parse("exited:0");
    assert_eq!((s.state.as_str(), s.health.as_str()), ("exited", "0"));
    let s = AppStatus::parse("degraded:unhealthy");
    assert_eq!(s.state, "degraded");
    assert_eq!(s.health, "unhealthy");
    assert!(!s.is_running() && !s.is_healthy());
    assert_eq!(s.to_string(), "degraded:unhealthy");

    let a = parse_application(br#"{"uuid":"u1","name":"w","status":"running:unknown"}"#).unwrap();
    assert_eq!(a.status.health, "unknown");
    assert_eq!(a.fqdn, None);

    for (text, status) in [
        ("queued", DeploymentStatus::Queued),
        ("in_progress", DeploymentStatus::InProgress),
        ("finished", DeploymentStatus::Finished),
        ("failed", DeploymentStatus::Failed),
        ("cancelled-by-user", DeploymentStatus::CancelledByUser),
        ("something-new", DeploymentStatus::Unknown),
    ] {
        let d = parse_deployment(
            format!(r#"{{"deployment_uuid":"d1","status":"{text}","application_id":"7"}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(d.status, status);
        assert_eq!(d.uuid, "d1");
        assert_eq!(d.application_uuid, None);
        if status != DeploymentStatus::Unknown {
            assert_eq!(status.to_string(), text);
        }
    }
    assert!(DeploymentStatus::Queued.in_progress());
    assert!(DeploymentStatus::CancelledByUser.failed());
    assert!(!DeploymentStatus::Finished.failed());

    let q = parse_deploy_answer(
        br#"{"deployments":[{"message":"m","resource_uuid":"a","deployment_uuid":"d"}]}"#,
    )
    .unwrap();
    assert_eq!(q[0].deployment_uuid.as_deref(), Some("d"));
    let q = parse_queued(
        br#"{"message":"Restart request queued.","deployment_uuid":null}"#,
        "restart",
    )
    .unwrap();
    assert_eq!(q.deployment_uuid, None);
    assert!(parse_deployments(b"{}").is_err());
    assert!(parse_deployment(br#"{"status":"queued"}"#).is_err());
}

proptest! {
    #[test]
    fn arbitrary_answers_never_panic_the_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_application(&bytes);
        let _ = parse_deployment(&bytes);
        let _ = parse_deployments(&bytes);
        let _ = parse_deploy_answer(&bytes);
        let _ = parse_queued(&bytes, "restart");
    }

    #[test]
    fn arbitrary_json_shaped_answers_never_panic(s in r#"\{("(uuid|name|status|fqdn|deployment_uuid|deployments)":("[a-z:_-]{0,12}"|null|1|\[\]|\{\}),?){0,5}\}"#) {
        let _ = parse_application(s.as_bytes());
        let _ = parse_deployment(s.as_bytes());
        let _ = parse_deploy_answer(s.as_bytes());
        let _ = parse_queued(s.as_bytes(), "start");
        let _ = AppStatus::parse(&s);
    }
}
