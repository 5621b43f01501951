//! Per-channel rate limits: at most `notify.rate_limit` messages to one channel
//! in [`WINDOW`]. Deliveries past the limit that are due together become
//! one digest message; when the window is spent they wait for the next.
//!
//! Pure: the counts live in a [`Limits`] the sender keeps; the caller
//! gives the time.

use std::collections::HashMap;
use std::time::Duration;

/// The window the limit counts in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What to do with `n` deliveries due on one channel now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Sent one by one.
    pub single: usize,
    /// Whether the rest go as one digest (which counts as one message).
    pub digest: bool,
    /// When nothing can be sent now: the time the window opens again.
    pub wait_until: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Limits {
    /// (workspace, channel) → (window start, messages in it).
    used: HashMap<(i64, String), (i64, u32)>,
}

impl Limits {
    /// Shares `n` due deliveries of channel `key` at `now` (ms) and counts
    /// what it lets through.
    pub fn share(&mut self, key: (i64, String), n: usize, now: i64, per_window: u32) -> Share {
        let window = WINDOW.as_millis() as i64;
        let (start, used) = self.used.entry(key).or_insert((now, 0));
        if now - *start >= window {
            *start = now;
            *used = 0;
        }
        let left = per_window.saturating_sub(*used) as usize;
        let share = if n == 0 {
            Share {
                single: 0,
                digest: false,
                wait_until: None,
            }
        } else if left == 0 {
            Share {
                single: 0,
                digest: false,
                wait_until: Some(*start + window),
            }
        } else if n <= left {
            Share {
                single: n,
                digest: false,
                wait_until: None,
            }
        } else {
            // Keep the last message of the window for the digest.
            Share {
                single: left - 1,
                digest: true,
                wait_until: None,
            }
        };
        *used += (share.single + usize::from(share.digest)) as u32;
        share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default `notify.rate_limit` (20 a minute).
    fn per() -> u32 {
        autoheal_config::NotifySettings::default().rate_limit
    }

    fn key() -> (i64, String) {
        (1, "ops".into())
    }

    #[test]
    fn within_the_limit_one_by_one_past_it_a_digest_then_wait() {
        let mut l = Limits::default();
        let s = l.share(key(), 5, 0, per());
        assert_eq!((s.single, s.digest, s.wait_until), (5, false, None));
        // 15 left: 40 due → 14 alone and one digest of 26.
        let s = l.share(key(), 40, 1_000, per());
        assert_eq!((s.single, s.digest, s.wait_until), (14, true, None));
        // Spent: wait for the window to open again.
        let s = l.share(key(), 3, 2_000, per());
        assert_eq!(s.wait_until, Some(WINDOW.as_millis() as i64));
        assert_eq!(s.single, 0);
        // A new window.
        let s = l.share(key(), 3, WINDOW.as_millis() as i64, per());
        assert_eq!((s.single, s.digest), (3, false));
        // Other channels count apart.
        let s = l.share((1, "pager".into()), 20, 0, per());
        assert_eq!(s.single, 20);
        let s = l.share((2, "ops".into()), 1, 0, per());
        assert_eq!(s.single, 1);
    }

    #[test]
    fn never_more_than_the_limit_in_a_window() {
        let mut l = Limits::default();
        let mut sent = 0;
        for i in 0..100 {
            let s = l.share(key(), (i % 7) + 1, i as i64 * 100, per());
            sent += s.single + usize::from(s.digest);
        }
        // 100 rounds within 10 s: one window.
        assert!(sent <= per() as usize, "{sent}");
    }
}
