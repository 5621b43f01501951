//! Exec check against real processes.

use std::time::Duration;

use autoheal_core::Status;
use autoheal_plugins::{Check, ExecCheck, ExecCheckConfig, ProcessResult, Scheduled, OUTPUT_CAP};
use serde_json::json;

fn check(v: serde_json::Value) -> ExecCheck {
    ExecCheck::build(&serde_json::from_value(v).unwrap()).unwrap()
}

#[tokio::test]
async fn exit_zero_is_up() {
    let o = check(json!({"argv": ["true"]})).check().await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.latency.is_some());
}

#[tokio::test]
async fn a_non_zero_exit_is_down_with_the_first_line_of_output() {
    let o =
        check(json!({"argv": ["sh", "-c", "echo; echo '  disk full  '; echo second >&2; exit 3"]}))
            .check()
            .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.detail, "exit 3: disk full");
    let o = check(json!({"argv": ["false"]})).check().await;
    assert_eq!(o.detail, "exit 1");
}

#[tokio::test]
async fn stderr_is_captured_too() {
    let o = check(json!({"argv": ["sh", "-c", "echo 'no route' >&2; exit 2"]}))
        .check()
        .await;
    assert_eq!(o.detail, "exit 2: no route");
}

#[tokio::test]
async fn arguments_are_not_interpreted_by_a_shell() {
    let c = check(json!({"argv": ["echo", "$HOME", ";", "id"]}));
    let ProcessResult::Exited {
        code: Some(0),
        output,
        ..
    } = c.run().await
    else {
        panic!()
    };
    assert_eq!(output.text(), "$HOME ; id\n");
}

#[tokio::test]
async fn shell_true_runs_sh_c() {
    let c = check(
        json!({"argv": ["echo \"$X\" | tr a-z A-Z; exit 4"], "shell": true, "env": {"X": "abc"}}),
    );
    let o = c.check().await;
    assert_eq!(o.detail, "exit 4: ABC");
}

/// Dead or a zombie waiting for init to reap it.
fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let c = check(json!({
        "argv": [format!("sleep 30 & echo $! > {}; wait", pidfile.display())],
        "shell": true,
        "timeout": "300ms"
    }));
    let start = std::time::Instant::now();
    let o = c.check().await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.detail, "timeout after 300ms");
    assert!(start.elapsed() < Duration::from_secs(5));
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let pid = pid.trim();
    // SIGKILL is delivered asynchronously: give it a bounded moment.
    let gone = tokio::time::timeout(Duration::from_secs(2), async {
        while !is_dead(pid) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        gone.is_ok(),
        "the shell's background child {pid} outlived the timeout"
    );
}

#[tokio::test]
async fn output_is_capped_at_4_kib_and_a_chatty_child_does_not_block() {
    let c = check(
        json!({"argv": ["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo tail >&2; exit 0"]}),
    );
    let ProcessResult::Exited {
        code: Some(0),
        output,
        ..
    } = c.run().await
    else {
        panic!()
    };
    assert_eq!(output.bytes.len(), OUTPUT_CAP);
    assert!(output.truncated);
    assert!(output.bytes.iter().all(|b| *b == b'x'));
}

#[tokio::test]
async fn the_environment_is_cleared_but_path_is_kept() {
    std::env::set_var("AUTOHEAL_TEST_CANARY", "leak");
    let c = check(
        json!({"argv": ["sh", "-c", "echo \"[$AUTOHEAL_TEST_CANARY][$MINE]\"; command -v sh"], "env": {"MINE": "1"}}),
    );
    let ProcessResult::Exited {
        code: Some(0),
        output,
        ..
    } = c.run().await
    else {
        panic!()
    };
    let text = output.text();
    assert!(text.starts_with("[][1]\n"), "{text}");
    assert!(text.contains("/sh"), "PATH kept: {text}");
    let c = check(
        json!({"argv": ["sh", "-c", "echo \"[$AUTOHEAL_TEST_CANARY]\""], "clear_env": false}),
    );
    let ProcessResult::Exited { output, .. } = c.run().await else {
        panic!()
    };
    assert_eq!(output.text(), "[leak]\n");
}

#[tokio::test]
async fn workdir_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let c = check(json!({"argv": ["pwd"], "workdir": dir.path()}));
    let ProcessResult::Exited { output, .. } = c.run().await else {
        panic!()
    };
    assert_eq!(
        std::path::Path::new(output.text().trim())
            .canonicalize()
            .unwrap(),
        dir.path().canonicalize().unwrap()
    );
}

#[tokio::test]
async fn a_missing_program_is_down() {
    let o = check(json!({"argv": ["/nonexistent/autoheal-probe"]}))
        .check()
        .await;
    assert_eq!(o.status, Status::Down);
    assert!(
        o.detail
            .starts_with("cannot run \"/nonexistent/autoheal-probe\""),
        "{}",
        o.detail
    );
}

#[test]
fn config_defaults_and_errors() {
    let c: ExecCheckConfig = serde_json::from_value(json!({"argv": ["true"]})).unwrap();
    assert!(c.clear_env && !c.shell && c.env.is_empty() && c.workdir.is_none());
    assert_eq!(
        (c.interval(), c.timeout()),
        (Duration::from_secs(10), Duration::from_secs(5))
    );
    let err = |v| ExecCheck::build(&serde_json::from_value(v).unwrap()).unwrap_err();
    assert_eq!(err(json!({"argv": []})).key, "argv");
    assert_eq!(err(json!({"argv": [""]})).key, "argv");
    assert_eq!(
        err(json!({"argv": ["true"], "env": {"A=B": "x"}})).key,
        "env.A=B"
    );
    assert_eq!(
        err(json!({"argv": ["true"], "timeout": "0s"})).key,
        "timeout"
    );
    assert!(
        serde_json::from_value::<ExecCheckConfig>(json!({"argv": ["true"], "command": "x"}))
            .is_err()
    );
}
