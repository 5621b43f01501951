//! Running a child process for exec checks and command actions.
//!
//! One place that gets the dangerous parts right: an argument list, never a
//! shell unless the operator asked for one; stdin closed; the environment
//! cleared on request (PATH kept); stdout and stderr captured through one
//! pipe, in the order written, and capped at [`OUTPUT_CAP`] bytes (the rest is read and
//! thrown away, so a chatty child never blocks on a full pipe); and on
//! timeout the whole process group is killed, so `sh -c 'sleep 1000'` does
//! not leave its `sleep` behind.

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// The most output bytes kept from one run (stdout and stderr together).
pub const OUTPUT_CAP: usize = 4 * 1024;

/// Which part of a long output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The first [`OUTPUT_CAP`] bytes (checks: the first line says why).
    Head,
    /// The last [`OUTPUT_CAP`] bytes (actions: the end says how it failed).
    Tail,
}

/// Captured output of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessOutput {
    /// At most [`OUTPUT_CAP`] bytes of stdout and stderr, interleaved.
    pub bytes: Vec<u8>,
    /// More was written than was kept.
    pub truncated: bool,
}

impl ProcessOutput {
    /// The output as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The first non-blank line, trimmed.
    pub fn first_line(&self) -> String {
        self.text()
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string()
    }

    /// The last non-blank line, trimmed.
    pub fn last_line(&self) -> String {
        self.text()
            .lines()
            .map(str::trim)
            .rev()
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string()
    }
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessResult {
    /// The process exited (`code`) or was killed by a signal (`signal`).
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
        output: ProcessOutput,
    },
    /// The timeout passed first; the process group was killed.
    TimedOut { output: ProcessOutput },
    /// The process could not be started.
    SpawnFailed { why: String },
}

impl ProcessResult {
    /// "exit 3", "killed by signal 9".
    pub fn exit_text(code: Option<i32>, signal: Option<i32>) -> String {
        match (code, signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "exit status unknown".to_string(),
        }
    }
}

/// What to run.
pub(crate) struct Spec<'a> {
    pub argv: &'a [String],
    pub shell: bool,
    pub env: &'a BTreeMap<String, String>,
    pub clear_env: bool,
    pub workdir: Option<&'a Path>,
    /// Set last, so config `env` cannot override them.
    pub extra_env: Vec<(&'static str, String)>,
    pub timeout: Duration,
    pub keep: Keep,
}

pub(crate) async fn run(spec: Spec<'_>) -> ProcessResult {
    let (program, args): (&str, Vec<&str>) = if spec.shell {
        let mut a = vec!["-c", spec.argv[0].as_str()];
        a.extend(spec.argv[1..].iter().map(String::as_str));
        ("sh", a)
    } else {
        (
            spec.argv[0].as_str(),
            spec.argv[1..].iter().map(String::as_str).collect(),
        )
    };
    // stdout and stderr share one pipe, so the output keeps the order the
    // child wrote it in (a failure's last line is really the last line).
    let (reader, writer) = match output_pipe() {
        Ok(p) => p,
        Err(e) => {
            return ProcessResult::SpawnFailed {
                why: format!("cannot create a pipe: {e}"),
            }
        }
    };
    let mut cmd = tokio::process::Command::new(program);
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => {
            return ProcessResult::SpawnFailed {
                why: format!("cannot create a pipe: {e}"),
            }
        }
    };
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .kill_on_drop(true)
        .process_group(0);
    if spec.clear_env {
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
    }
    cmd.envs(spec.env);
    for (k, v) in &spec.extra_env {
        cmd.env(k, v);
    }
    if let Some(dir) = spec.workdir {
        cmd.current_dir(dir);
    }
    let spawned = cmd.spawn();
    // Close our copies of the pipe's write end, or EOF would never come.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return ProcessResult::SpawnFailed {
                why: format!("cannot run {program:?}: {e}"),
            }
        }
    };
    let pid = child.id();
    let mut out = Capture::new(spec.keep);

    let work = async {
        let (status, ()) = tokio::join!(child.wait(), read_all(reader, &mut out));
        status
    };
    match tokio::time::timeout(spec.timeout, work).await {
        Ok(Ok(status)) => exited(status, out.finish()),
        Ok(Err(e)) => ProcessResult::SpawnFailed {
            why: format!("waiting for {program:?}: {e}"),
        },
        Err(_) => {
            // The process itself may have exited while a descendant kept the
            // pipe open: then its exit status is the answer. Asked before
            // the kill, which would otherwise be the status.
            let status = child.try_wait().ok().flatten();
            kill_group(pid);
            let _ = child.kill().await;
            match status {
                Some(status) => exited(status, out.finish()),
                None => ProcessResult::TimedOut {
                    output: out.finish(),
                },
            }
        }
    }
}

fn exited(status: std::process::ExitStatus, output: ProcessOutput) -> ProcessResult {
    use std::os::unix::process::ExitStatusExt;
    ProcessResult::Exited {
        code: status.code(),
        signal: status.signal(),
        output,
    }
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with a negative pid signals the process group we
        // created for this child (`process_group(0)` makes pgid == pid). It
        // touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// A pipe for the child's output: the read end for us (non-blocking, for
/// tokio), the write end for the child. Both ends are close-on-exec, so other
/// children spawned concurrently do not inherit them.
fn output_pipe() -> std::io::Result<(tokio::net::unix::pipe::Receiver, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two file descriptors into the array we pass; we
    // own them from here on.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((tokio::net::unix::pipe::Receiver::from_owned_fd(r)?, w))
}

async fn read_all(mut reader: tokio::net::unix::pipe::Receiver, out: &mut Capture) {
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => out.push(&buf[..n]),
        }
    }
}

struct Capture {
    keep: Keep,
    buf: Vec<u8>,
    truncated: bool,
}

impl Capture {
    fn new(keep: Keep) -> Self {
        Self {
            keep,
            buf: Vec::new(),
            truncated: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        match self.keep {
            Keep::Head => {
                let room = OUTPUT_CAP.saturating_sub(self.buf.len());
                if chunk.len() > room {
                    self.truncated = true;
                }
                self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Keep::Tail => {
                self.buf.extend_from_slice(chunk);
                if self.buf.len() > 2 * OUTPUT_CAP {
                    let cut = self.buf.len() - OUTPUT_CAP;
                    self.buf.drain(..cut);
                    self.truncated = true;
                }
            }
        }
    }

    fn finish(self) -> ProcessOutput {
        let Capture {
            buf, mut truncated, ..
        } = self;
        let mut buf = buf;
        if buf.len() > OUTPUT_CAP {
            let cut = buf.len() - OUTPUT_CAP;
            buf.drain(..cut);
            truncated = true;
        }
        ProcessOutput {
            bytes: buf,
            truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_capture_keeps_the_first_bytes() {
        let mut c = Capture::new(Keep::Head);
        c.push(&[b'a'; 3000]);
        c.push(&[b'b'; 3000]);
        let o = c.finish();
        assert_eq!(o.bytes.len(), OUTPUT_CAP);
        assert!(o.truncated);
        assert_eq!(o.bytes[0], b'a');
        assert_eq!(*o.bytes.last().unwrap(), b'b');
    }

    #[test]
    fn tail_capture_keeps_the_last_bytes() {
        let mut c = Capture::new(Keep::Tail);
        for _ in 0..10 {
            c.push(&[b'a'; 3000]);
        }
        c.push(b"\nthe end\n");
        let o = c.finish();
        assert_eq!(o.bytes.len(), OUTPUT_CAP);
        assert!(o.truncated);
        assert_eq!(o.last_line(), "the end");
    }

    #[test]
    fn short_output_is_not_truncated() {
        let mut c = Capture::new(Keep::Tail);
        c.push(b"hello\n\n  world  \n");
        let o = c.finish();
        assert!(!o.truncated);
        assert_eq!(o.first_line(), "hello");
        assert_eq!(o.last_line(), "world");
    }
}
