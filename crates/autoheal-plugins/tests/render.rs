//! The Render client and actions against the local fake (tests/fake_render).

mod fake_render;

use std::time::{Duration, Instant};

use autoheal_core::ActionOutcome;
use autoheal_plugins::action::render::{
    RenderDeployAction, RenderDeployConfig, RenderRestartAction,
};
use autoheal_plugins::platform::render::{
    parse_services_page, DeployStatus, RenderClient, RenderError, RenderOptions,
};
use autoheal_plugins::{Action, ActionContext, HttpClients};
use fake_render::{FakeRender, KEY, TO_BUILD_FAILED, TO_LIVE};

const POLL: Duration = Duration::from_millis(50);

fn http() -> reqwest::Client {
    HttpClients::new().unwrap().verified().clone()
}

/// A client whose retry waits are short.
fn client(fake: &FakeRender, key: &str) -> RenderClient {
    RenderClient::new_with(
        &fake.base_url(),
        key,
        http(),
        RenderOptions {
            timeout: Duration::from_secs(5),
            max_wait: Duration::from_millis(200),
        },
    )
    .unwrap()
}

fn deploy_action(fake: &FakeRender, service: &str) -> RenderDeployAction {
    RenderDeployAction::new(
        client(fake, KEY),
        service,
        false,
        POLL,
        Duration::from_secs(20),
    )
}

fn failed(o: &ActionOutcome) -> &str {
    match o {
        ActionOutcome::Failed { detail } => detail,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn paging_over_three_pages_finds_every_service() {
    let fake = FakeRender::start().await;
    for i in 0..250 {
        fake.add_service(&format!("svc-{i}"), "web_service", false);
    }
    let all = client(&fake, KEY).list_services(None).await.unwrap();
    assert_eq!(all.len(), 250);
    let mut names: Vec<_> = all.iter().map(|s| s.name.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), 250);
    assert_eq!(all[0].url.as_deref(), Some("https://svc-0.onrender.com"));
    assert_eq!(all[0].kind, "web_service");
    assert_eq!(all[0].suspended, "not_suspended");
    assert!(all[0].created_at.is_some());
    // 100 + 100 + 50, then the empty page after the last cursor.
    assert_eq!(fake.count("GET", "/v1/services"), 4);
}

#[tokio::test]
async fn find_by_id_name_ambiguous_and_missing() {
    let fake = FakeRender::start().await;
    let web = fake.add_service("web", "web_service", false);
    fake.add_service("worker", "background_worker", false);
    fake.add_service("twin", "web_service", false);
    fake.add_service("twin", "private_service", false);
    let c = client(&fake, KEY);

    let s = c.find(&web).await.unwrap();
    assert_eq!(s.name, "web");
    let s = c.find("worker").await.unwrap();
    assert_eq!(s.kind, "background_worker");
    assert_eq!(s.url, None);

    match c.find("twin").await {
        Err(RenderError::Ambiguous(m)) => assert!(m.contains("2 Render services"), "{m}"),
        other => panic!("{other:?}"),
    }
    match c.find("nope").await {
        Err(RenderError::NotFound(m)) => assert!(m.contains("nope"), "{m}"),
        other => panic!("{other:?}"),
    }
    match c.find("srv-99999").await {
        Err(RenderError::NotFound(m)) => assert!(m.contains("srv-99999"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unhealthy_lists_suspended_and_failed_latest_deploys() {
    let fake = FakeRender::start().await;
    let ok = fake.add_service("ok", "web_service", false);
    let d = fake.add_deploy(&ok, TO_LIVE);
    fake.set_status(&d, "live");
    let sus = fake.add_service("sleepy", "web_service", true);
    let broken = fake.add_service("broken", "web_service", false);
    let old = fake.add_deploy(&broken, TO_LIVE);
    fake.set_status(&old, "live");
    let bad = fake.add_deploy(&broken, TO_BUILD_FAILED);
    fake.set_status(&bad, "build_failed");
    fake.add_service("fresh", "cron_job", false);
    let canceled = fake.add_service("canceled", "web_service", false);
    let c = fake.add_deploy(&canceled, TO_LIVE);
    fake.set_status(&c, "canceled");

    let client = client(&fake, KEY);
    assert_eq!(
        client.latest_deploy(&broken).await.unwrap().unwrap().status,
        DeployStatus::BuildFailed
    );
    let list = client.unhealthy().await.unwrap();
    let got: Vec<(&str, &str)> = list
        .iter()
        .map(|(s, _, why)| (s.id.as_str(), why.as_str()))
        .collect();
    let why_bad = format!("latest deploy {bad} build_failed");
    assert_eq!(
        got,
        vec![
            (sus.as_str(), "suspended"),
            (broken.as_str(), why_bad.as_str())
        ]
    );
    assert_eq!(list[1].1.as_ref().unwrap().id, bad);
}

#[tokio::test]
async fn a_deploy_followed_to_live_succeeds() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    let (outcome, detail) = deploy_action(&fake, "web").run_with_detail().await;
    assert_eq!(outcome, ActionOutcome::Succeeded, "{detail}");
    let dep = &fake.deploys(&id)[0];
    assert!(
        detail.starts_with(&format!("deploy {dep} live after ")),
        "{detail}"
    );
    assert_eq!(fake.status(dep).as_deref(), Some("live"));
    assert_eq!(fake.count("POST", &format!("/v1/services/{id}/deploys")), 1);
    assert_eq!(fake.last_body().unwrap()["clearCache"], "do_not_clear");

    // 201 is accepted as well, and clear_cache is sent.
    fake.set_deploy_status_code(201);
    let a = RenderDeployAction::new(client(&fake, KEY), &id, true, POLL, Duration::from_secs(20));
    let outcome = a.run(&ActionContext::default()).await;
    assert_eq!(outcome, ActionOutcome::Succeeded);
    assert_eq!(fake.last_body().unwrap()["clearCache"], "clear");
    assert_eq!(fake.count("POST", &format!("/v1/services/{id}/deploys")), 2);
}

#[tokio::test]
async fn a_deploy_that_fails_its_build_is_a_failure_naming_the_status() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    fake.set_new_deploy_path(TO_BUILD_FAILED);
    let outcome = deploy_action(&fake, &id)
        .run(&ActionContext::default())
        .await;
    let d = failed(&outcome);
    assert!(d.contains("build_failed"), "{d}");
    assert!(d.contains(&fake.deploys(&id)[0]), "{d}");
}

#[tokio::test]
async fn a_deploy_in_progress_is_followed_not_doubled() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    let running = fake.add_deploy(&id, TO_LIVE);
    fake.advance(&running); // build_in_progress
    let (outcome, detail) = deploy_action(&fake, "web").run_with_detail().await;
    assert_eq!(outcome, ActionOutcome::Succeeded, "{detail}");
    assert!(detail.contains(&running), "{detail}");
    assert!(
        detail.contains("already in progress (build_in_progress)"),
        "{detail}"
    );
    assert_eq!(fake.count("POST", &format!("/v1/services/{id}/deploys")), 0);
    assert_eq!(fake.deploys(&id), vec![running]);
}

#[tokio::test]
async fn following_stops_at_the_timeout() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    fake.set_reads_per_step(0); // never moves by itself
    let a = RenderDeployAction::new(
        client(&fake, KEY),
        "web",
        false,
        POLL,
        Duration::from_millis(400),
    );
    let (outcome, detail) = a.run_with_detail().await;
    let dep = &fake.deploys(&id)[0];
    assert_eq!(failed(&outcome), detail);
    assert!(
        detail.starts_with(&format!("timed out following deploy {dep}")),
        "{detail}"
    );
}

#[tokio::test]
async fn a_429_waits_for_the_reset_then_succeeds() {
    let fake = FakeRender::start().await;
    fake.add_service("web", "web_service", false);
    fake.throttle(1, 1);
    let c = client(&fake, KEY);
    let started = Instant::now();
    let all = c.list_services(None).await.unwrap();
    assert_eq!(all.len(), 1);
    // Reset = 1 s, capped by the test's max_wait of 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.count("GET", "/v1/services"), 3);
    let rl = c.rate_limit().unwrap();
    assert_eq!(rl.limit, Some(400));
    assert!(rl.remaining.unwrap() < 400);
}

#[tokio::test]
async fn a_429_beyond_the_retries_fails_saying_rate_limited() {
    let fake = FakeRender::start().await;
    fake.add_service("web", "web_service", false);
    fake.set_budget(Some(0));
    let outcome = deploy_action(&fake, "web")
        .run(&ActionContext::default())
        .await;
    let d = failed(&outcome);
    assert!(d.contains("rate limited"), "{d}");
    // One try and three retries.
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn a_5xx_on_a_read_is_retried() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    let c = client(&fake, KEY);
    fake.fail_next("GET", 2, 503);
    assert_eq!(c.service(&id).await.unwrap().name, "web");
    assert_eq!(fake.count("GET", &format!("/v1/services/{id}")), 3);

    fake.fail_next("GET", 3, 502);
    match c.service(&id).await {
        Err(RenderError::Server(502, _)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.count("GET", &format!("/v1/services/{id}")), 6);
}

#[tokio::test]
async fn a_5xx_on_the_deploy_post_is_not_retried() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    fake.fail_next("POST", 1, 500);
    let outcome = deploy_action(&fake, "web")
        .run(&ActionContext::default())
        .await;
    let d = failed(&outcome);
    assert!(d.contains("HTTP 500"), "{d}");
    assert_eq!(fake.count("POST", &format!("/v1/services/{id}/deploys")), 1);
    assert!(fake.deploys(&id).is_empty());

    fake.fail_next("POST", 1, 503);
    let r = RenderRestartAction::new(client(&fake, KEY), "web", Duration::from_secs(5));
    let d = failed(&r.run(&ActionContext::default()).await).to_string();
    assert!(d.contains("HTTP 503"), "{d}");
    assert_eq!(fake.count("POST", &format!("/v1/services/{id}/restart")), 1);
}

#[tokio::test]
async fn restart_succeeds_on_202() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    let r = RenderRestartAction::new(client(&fake, KEY), "web", Duration::from_secs(5));
    let (outcome, detail) = r.run_with_detail().await;
    assert_eq!(outcome, ActionOutcome::Succeeded, "{detail}");
    assert_eq!(fake.count("POST", &format!("/v1/services/{id}/restart")), 1);
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_never_shown() {
    const CANARY: &str = "rnd_CANARY_d0nt_l34k";
    let fake = FakeRender::start().await;
    fake.add_service("web", "web_service", false);

    let cfg: RenderDeployConfig = serde_json::from_value(serde_json::json!({
        "service": "web",
        "api_key": CANARY,
        "base_url": fake.base_url(),
    }))
    .unwrap();
    let built = RenderDeployAction::build(&cfg, &HttpClients::new().unwrap()).unwrap();
    let a = RenderDeployAction::new(
        client(&fake, CANARY),
        "web",
        false,
        POLL,
        Duration::from_secs(5),
    );
    let (outcome, detail) = a.run_with_detail().await;
    assert!(detail.contains("the Render API key is refused"), "{detail}");
    let r = RenderRestartAction::new(client(&fake, CANARY), "web", Duration::from_secs(5));
    let (routcome, rdetail) = r.run_with_detail().await;
    assert!(
        rdetail.contains("the Render API key is refused"),
        "{rdetail}"
    );
    let err = client(&fake, CANARY).list_services(None).await.unwrap_err();
    assert!(matches!(err, RenderError::Unauthorized));

    for text in [
        format!("{outcome:?}"),
        detail,
        format!("{routcome:?}"),
        rdetail,
        format!("{cfg:?}"),
        format!("{built:?}"),
        format!("{a:?}"),
        format!("{r:?}"),
        format!("{:?}", client(&fake, CANARY)),
        format!("{err:?} {err}"),
    ] {
        assert!(!text.contains("CANARY"), "{text}");
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_as_a_services_page_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = parse_services_page(&bytes);
    }

    #[test]
    fn arbitrary_json_like_text_as_a_services_page_never_panic(
        s in r#"\[?(\{"(service|cursor|id|name|type|serviceDetails|url)":(\{|"[a-z-]{0,6}"|null|1|\[)[,}\]]?){0,8}\]?"#
    ) {
        let _ = parse_services_page(s.as_bytes());
    }
}

#[tokio::test]
async fn a_202_without_the_deploy_reads_the_newest_one() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    fake.set_deploy_answer_body(false);
    let d = client(&fake, KEY).deploy(&id, false).await.unwrap();
    assert_eq!(vec![d.id.clone()], fake.deploys(&id));
    assert_eq!(d.status, DeployStatus::Created);
}

#[tokio::test]
async fn a_restart_built_from_its_config_runs() {
    let fake = FakeRender::start().await;
    let id = fake.add_service("web", "web_service", false);
    let cfg: autoheal_plugins::RenderRestartConfig = serde_json::from_value(serde_json::json!({
        "service": "web",
        "api_key": KEY,
        "base_url": fake.base_url(),
    }))
    .unwrap();
    let r = RenderRestartAction::build(&cfg, &HttpClients::new().unwrap()).unwrap();
    assert_eq!(
        r.run(&ActionContext::default()).await,
        ActionOutcome::Succeeded
    );
    assert_eq!(fake.count("POST", &format!("/v1/services/{id}/restart")), 1);
}
