//! Command action against real processes.

use std::time::Duration;

use autoheal_core::ActionOutcome;
use autoheal_plugins::{Action, ActionContext, CommandAction, CommandActionConfig};
use serde_json::json;

fn action(v: serde_json::Value) -> CommandAction {
    CommandAction::build(&serde_json::from_value(v).unwrap()).unwrap()
}

fn ctx() -> ActionContext {
    ActionContext {
        target: "web".into(),
        incident_id: Some(7),
        state: "failing".into(),
        detail: "HTTP 503".into(),
        rung: 0,
        attempt: 2,
        action: "restart-web".into(),
    }
}

#[tokio::test]
async fn exit_zero_succeeds_and_the_context_is_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let a = action(json!({
        "argv": ["sh", "-c", "echo \"$AUTOHEAL_TARGET|$AUTOHEAL_INCIDENT_ID|$AUTOHEAL_STATE|$AUTOHEAL_ATTEMPT|$AUTOHEAL_RUNG|$AUTOHEAL_ACTION|$AUTOHEAL_DETAIL\" > \"$1\"", "sh", out.display().to_string()],
        // The config cannot spoof the context.
        "env": {"AUTOHEAL_TARGET": "spoofed"}
    }));
    assert_eq!(a.run(&ctx()).await, ActionOutcome::Succeeded);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "web|7|failing|2|0|restart-web|HTTP 503\n"
    );
}

#[tokio::test]
async fn a_missing_incident_id_is_empty() {
    let a = action(json!({"argv": ["sh", "-c", "test -z \"$AUTOHEAL_INCIDENT_ID\""]}));
    let c = ActionContext {
        incident_id: None,
        ..ctx()
    };
    assert_eq!(a.run(&c).await, ActionOutcome::Succeeded);
    assert!(matches!(a.run(&ctx()).await, ActionOutcome::Failed { .. }));
}

#[tokio::test]
async fn a_failure_reports_the_exit_code_and_the_last_line() {
    let a = action(
        json!({"argv": ["sh", "-c", "echo starting; echo 'Error: no such container' >&2; echo; exit 125"]}),
    );
    assert_eq!(
        a.run(&ctx()).await,
        ActionOutcome::Failed {
            detail: "exit 125: Error: no such container".into()
        }
    );
}

#[tokio::test]
async fn a_timeout_is_timed_out() {
    let a = action(json!({"argv": ["sleep", "30"], "timeout": "200ms"}));
    let start = std::time::Instant::now();
    assert_eq!(a.run(&ctx()).await, ActionOutcome::TimedOut);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_missing_program_fails() {
    let a = action(json!({"argv": ["/nonexistent/heal"]}));
    let ActionOutcome::Failed { detail } = a.run(&ctx()).await else {
        panic!()
    };
    assert!(detail.contains("/nonexistent/heal"), "{detail}");
}

#[tokio::test]
async fn the_environment_is_cleared_by_default() {
    std::env::set_var("AUTOHEAL_ACTION_CANARY", "secret");
    let a = action(json!({"argv": ["sh", "-c", "test -z \"$AUTOHEAL_ACTION_CANARY\""]}));
    assert_eq!(a.run(&ctx()).await, ActionOutcome::Succeeded);
    let a = action(
        json!({"argv": ["sh", "-c", "test -z \"$AUTOHEAL_ACTION_CANARY\""], "clear_env": false}),
    );
    assert!(matches!(a.run(&ctx()).await, ActionOutcome::Failed { .. }));
}

#[test]
fn config_defaults_and_errors() {
    let c: CommandActionConfig = serde_json::from_value(json!({"argv": ["true"]})).unwrap();
    assert_eq!(c.timeout, Duration::from_secs(60));
    assert!(c.clear_env && !c.shell && c.workdir.is_none());
    let err = |v| CommandAction::build(&serde_json::from_value(v).unwrap()).unwrap_err();
    assert_eq!(err(json!({"argv": []})).key, "argv");
    assert_eq!(err(json!({"argv": ["x"], "timeout": "0s"})).key, "timeout");
    assert!(serde_json::from_value::<CommandActionConfig>(
        json!({"argv": ["x"], "type": "command"})
    )
    .is_err());
}
