//! Brute-force limits for logins (and the other anonymous credential
//! routes: register, setup), in three layers, so an attacker is slowed
//! without locking anyone else out:
//!
//! 1. per account: after [`FREE_FAILURES`] failures in a row, each further
//!    try must wait a delay that doubles with every failure, up to
//!    [`MAX_DELAY`]. Kept for every login name tried, known or not, so the
//!    answer never tells whether an account exists.
//! 2. per client address: a token bucket (`per_ip_burst` tries, then one
//!    every `per_ip_every`).
//! 3. a global ceiling on tries per second, shedding load with 429 before
//!    any hashing is done; the hashing pool itself is bounded too
//!    ([`super::password::Passwords`]).

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row before the per-account delay starts.
pub const FREE_FAILURES: u32 = 3;
/// The longest per-account delay.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Login names remembered at most (the oldest settled ones go first).
const MAX_TRACKED: usize = 50_000;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    pub per_ip_burst: u32,
    pub per_ip_every: Duration,
    pub global_per_second: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_ip_burst: 20,
            per_ip_every: Duration::from_secs(3),
            global_per_second: 50,
        }
    }
}

/// Why a try is refused, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
    pub scope: &'static str,
}

pub struct Throttle {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
    accounts: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The wait after `count` failures in a row: none for the first few, then
/// 1 s, 2 s, 4 s, ... up to [`MAX_DELAY`].
pub fn delay_after(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (count - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

impl Throttle {
    pub fn new(s: ThrottleSettings) -> Self {
        let per_ip = Quota::with_period(s.per_ip_every.max(Duration::from_millis(1)))
            .expect("a positive period")
            .allow_burst(nz(s.per_ip_burst));
        Throttle {
            per_ip: RateLimiter::keyed(per_ip),
            global: RateLimiter::direct(Quota::per_second(nz(s.global_per_second))),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a try for `login` from `ip` may go ahead now. Counts the try
    /// against the address and the global ceiling.
    pub fn admit(&self, ip: Option<IpAddr>, login: Option<&str>) -> Result<(), Refused> {
        if let Some(login) = login {
            let accounts = self.accounts.lock().expect("throttle lock");
            if let Some(f) = accounts.get(login) {
                let wait = delay_after(f.count).saturating_sub(f.last.elapsed());
                if !wait.is_zero() {
                    return Err(Refused {
                        retry_after: wait,
                        scope: "account",
                    });
                }
            }
        }
        if let Some(ip) = ip {
            if self.per_ip.len() > MAX_TRACKED {
                self.per_ip.retain_recent();
            }
            if let Err(not_until) = self.per_ip.check_key(&ip) {
                return Err(Refused {
                    retry_after: not_until.wait_time_from(governor::clock::Clock::now(
                        &governor::clock::DefaultClock::default(),
                    )),
                    scope: "address",
                });
            }
        }
        if let Err(not_until) = self.global.check() {
            return Err(Refused {
                retry_after: not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                )),
                scope: "server",
            });
        }
        Ok(())
    }

    /// A wrong password (or an unknown name) for `login`.
    pub fn failed(&self, login: &str) {
        let mut accounts = self.accounts.lock().expect("throttle lock");
        if accounts.len() >= MAX_TRACKED && !accounts.contains_key(login) {
            accounts.retain(|_, f| f.last.elapsed() < delay_after(f.count));
            if accounts.len() >= MAX_TRACKED {
                return;
            }
        }
        let f = accounts.entry(login.to_string()).or_insert(Failures {
            count: 0,
            last: Instant::now(),
        });
        f.count = f.count.saturating_add(1);
        f.last = Instant::now();
    }

    /// A successful login clears the account's failures.
    pub fn succeeded(&self, login: &str) {
        self.accounts.lock().expect("throttle lock").remove(login);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_after_the_free_failures_up_to_its_cap() {
        assert_eq!(delay_after(0), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES - 1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(delay_after(FREE_FAILURES + 1), Duration::from_secs(2));
        assert_eq!(delay_after(FREE_FAILURES + 5), Duration::from_secs(32));
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn a_failing_account_waits_while_another_does_not() {
        let t = Throttle::new(ThrottleSettings::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            t.admit(Some(ip), Some("alice")).unwrap();
            t.failed("alice");
        }
        let r = t.admit(Some(ip), Some("alice")).unwrap_err();
        assert_eq!(r.scope, "account");
        assert!(r.retry_after > Duration::from_millis(500));
        t.admit(Some(ip), Some("bob"))
            .expect("bob is not slowed by alice's failures");
        t.succeeded("alice");
        t.admit(Some(ip), Some("alice"))
            .expect("a success clears the delay");
    }

    #[test]
    fn one_address_runs_out_while_another_goes_on() {
        let t = Throttle::new(ThrottleSettings {
            per_ip_burst: 3,
            per_ip_every: Duration::from_secs(60),
            global_per_second: 1000,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            t.admit(Some(a), None).unwrap();
        }
        let r = t.admit(Some(a), None).unwrap_err();
        assert_eq!(r.scope, "address");
        assert!(r.retry_after > Duration::from_secs(30));
        t.admit(Some(b), None)
            .expect("another address has its own bucket");
    }

    #[test]
    fn the_global_ceiling_sheds_load() {
        let t = Throttle::new(ThrottleSettings {
            per_ip_burst: 1000,
            per_ip_every: Duration::from_millis(1),
            global_per_second: 2,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let refused = (0..10)
            .filter_map(|_| t.admit(Some(ip), None).err())
            .next()
            .expect("a burst beyond the ceiling is refused");
        assert_eq!(refused.scope, "server");
    }
}
