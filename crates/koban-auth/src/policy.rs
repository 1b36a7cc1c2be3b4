//! Pure policy decisions about account lockout and session lifetime.
//!
//! The server stores the state and the current time is passed in, so the
//! rules here are deterministic and can be tested without clocks or a
//! database. Times are unix microseconds unless a name says otherwise.

use serde::{Deserialize, Serialize};

/// Consecutive failed logons that lock an account (CJIS Security Policy:
/// no more than five unsuccessful attempts).
pub const MAX_FAILED_LOGONS: u32 = 5;
/// The window in seconds within which failures count towards a lock.
pub const FAILED_WINDOW_S: i64 = 900;
/// Accounts unused for this long are disabled (90 days).
pub const ACCOUNT_INACTIVE_DISABLE_S: i64 = 90 * 86_400;

const MICROS_PER_S: i64 = 1_000_000;

fn seconds_to_us(seconds: i64) -> i64 {
    seconds.saturating_mul(MICROS_PER_S)
}

/// The failed-logon state of one account.
///
/// A lock does not expire by itself: CJIS allows either a timed or an
/// administrator unlock, and koban chooses the stricter administrator
/// unlock, because an automatic expiry would let an attacker keep guessing
/// at five attempts per period indefinitely.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutState {
    /// Failures counted in the current window.
    pub failed_count: u32,
    /// When the current window began (the first failure in it).
    pub window_start_us: Option<i64>,
    /// When the account was locked, if it is.
    pub locked_at_us: Option<i64>,
}

impl LockoutState {
    /// The state after a failed logon at `now_us`.
    ///
    /// A failure more than [`FAILED_WINDOW_S`] after the window began starts
    /// a new window with a count of one; otherwise the count grows, and the
    /// [`MAX_FAILED_LOGONS`]th failure in the window locks the account. A
    /// clock that runs backwards keeps the current window, so that a skewed
    /// clock can never reset the count.
    #[must_use]
    pub fn after_failure(self, now_us: i64) -> LockoutState {
        let window_expired = self
            .window_start_us
            .is_none_or(|start| now_us.saturating_sub(start) > seconds_to_us(FAILED_WINDOW_S));
        let (failed_count, window_start_us) = if window_expired {
            (1, Some(now_us))
        } else {
            (self.failed_count.saturating_add(1), self.window_start_us)
        };
        let locked_at_us = match self.locked_at_us {
            Some(at) => Some(at),
            None if failed_count >= MAX_FAILED_LOGONS => Some(now_us),
            None => None,
        };
        LockoutState {
            failed_count,
            window_start_us,
            locked_at_us,
        }
    }

    /// The state after a successful logon: the failure count is reset.
    ///
    /// A lock is kept: the server refuses logons to a locked account before
    /// checking the password, and only an administrator's
    /// [`unlock`](Self::unlock) lifts it.
    #[must_use]
    pub fn after_success(self) -> LockoutState {
        LockoutState {
            failed_count: 0,
            window_start_us: None,
            locked_at_us: self.locked_at_us,
        }
    }

    /// The state after an administrator unlocks the account.
    #[must_use]
    pub fn unlock(self) -> LockoutState {
        LockoutState::default()
    }

    /// Whether the account is locked.
    pub fn is_locked(&self) -> bool {
        self.locked_at_us.is_some()
    }
}

/// Whether an account last used at `last_activity_us` has been inactive long
/// enough at `now_us` to be disabled.
pub fn is_account_inactive(last_activity_us: i64, now_us: i64) -> bool {
    now_us.saturating_sub(last_activity_us) >= seconds_to_us(ACCOUNT_INACTIVE_DISABLE_S)
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// No activity for longer than the idle timeout.
    #[error("the session ended after a period of inactivity")]
    Idle,
    /// The session reached its absolute lifetime.
    #[error("the session reached its maximum lifetime")]
    Absolute,
}

impl SessionEnd {
    /// A stable machine-readable code for API responses and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Idle => "session_idle_timeout",
            Self::Absolute => "session_absolute_timeout",
        }
    }
}

/// Session lifetime limits, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPolicy {
    /// A session unused for this long ends (30 minutes, the CJIS session
    /// lock limit).
    pub idle_timeout_s: i64,
    /// A session ends this long after it was created, however busy (12
    /// hours, one shift), so a stolen token has a bounded life.
    pub absolute_timeout_s: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout_s: 1800,
            absolute_timeout_s: 43_200,
        }
    }
}

impl SessionPolicy {
    /// Whether a session is still valid at `now_us`.
    ///
    /// A session ends when the idle or absolute timeout has fully elapsed
    /// (reaching the limit exactly counts as elapsed). Terminals marked
    /// `idle_exempt` (such as a kōban's front-desk display, which is
    /// physically supervised) skip only the idle check; the absolute limit
    /// applies to every session. The absolute limit is checked first, so a
    /// session past both reports [`SessionEnd::Absolute`].
    pub fn check(
        &self,
        created_at_us: i64,
        last_seen_at_us: i64,
        now_us: i64,
        idle_exempt: bool,
    ) -> Result<(), SessionEnd> {
        if now_us.saturating_sub(created_at_us) >= seconds_to_us(self.absolute_timeout_s) {
            return Err(SessionEnd::Absolute);
        }
        if !idle_exempt
            && now_us.saturating_sub(last_seen_at_us) >= seconds_to_us(self.idle_timeout_s)
        {
            return Err(SessionEnd::Idle);
        }
        Ok(())
    }

    /// The first instant (in microseconds) at which [`check`](Self::check)
    /// would end the session, assuming no further activity. Useful for
    /// cookie expiry and for telling the client when to warn the user.
    pub fn ends_at_us(&self, created_at_us: i64, last_seen_at_us: i64, idle_exempt: bool) -> i64 {
        let absolute = created_at_us.saturating_add(seconds_to_us(self.absolute_timeout_s));
        if idle_exempt {
            absolute
        } else {
            absolute.min(last_seen_at_us.saturating_add(seconds_to_us(self.idle_timeout_s)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = MICROS_PER_S;
    const T0: i64 = 1_767_225_600 * S;

    fn fail_n(mut state: LockoutState, times: &[i64]) -> LockoutState {
        for &t in times {
            state = state.after_failure(t);
        }
        state
    }

    #[test]
    fn five_failures_lock() {
        let mut state = LockoutState::default();
        for i in 0..4 {
            state = state.after_failure(T0 + i * 10 * S);
            assert!(!state.is_locked());
        }
        state = state.after_failure(T0 + 40 * S);
        assert!(state.is_locked());
        assert_eq!(state.locked_at_us, Some(T0 + 40 * S));
        assert_eq!(state.failed_count, 5);
        // Further failures keep the original lock time.
        state = state.after_failure(T0 + 50 * S);
        assert_eq!(state.locked_at_us, Some(T0 + 40 * S));
        // The lock never expires by itself, nor is lifted by a success.
        assert!(state.after_success().is_locked());
        assert!(state.after_failure(T0 + 86_400 * 365 * S).is_locked());
        assert_eq!(state.unlock(), LockoutState::default());
    }

    #[test]
    fn window_boundary() {
        // The fifth failure exactly 900 s after the first still counts.
        let times: Vec<i64> = [0, 1, 2, 3, 900].iter().map(|s| T0 + s * S).collect();
        assert!(fail_n(LockoutState::default(), &times).is_locked());
        // One microsecond later starts a new window.
        let mut late = times.clone();
        late[4] += 1;
        let state = fail_n(LockoutState::default(), &late);
        assert!(!state.is_locked());
        assert_eq!(state.failed_count, 1);
        assert_eq!(state.window_start_us, Some(late[4]));
    }

    #[test]
    fn success_resets() {
        let state = fail_n(
            LockoutState::default(),
            &[T0, T0 + S, T0 + 2 * S, T0 + 3 * S],
        );
        let state = state.after_success();
        assert_eq!(state, LockoutState::default());
        assert!(!state.after_failure(T0 + 4 * S).is_locked());
    }

    #[test]
    fn backwards_clock_keeps_window() {
        let state = fail_n(
            LockoutState::default(),
            &[T0, T0 - 5 * S, T0 - 10 * S, T0 - 15 * S, T0 - 20 * S],
        );
        assert!(state.is_locked());
    }

    #[test]
    fn account_inactivity() {
        let day = 86_400 * S;
        assert!(!is_account_inactive(T0, T0 + 89 * day));
        assert!(is_account_inactive(T0, T0 + 90 * day));
        assert!(!is_account_inactive(T0, T0 - day));
    }

    #[test]
    fn session_defaults_and_limits() {
        let p = SessionPolicy::default();
        assert_eq!(p.idle_timeout_s, 1800);
        assert_eq!(p.absolute_timeout_s, 43_200);

        assert_eq!(p.check(T0, T0, T0, false), Ok(()));
        assert_eq!(p.check(T0, T0, T0 + 1799 * S, false), Ok(()));
        assert_eq!(p.check(T0, T0, T0 + 1800 * S, false), Err(SessionEnd::Idle));
        // An exempt terminal survives idleness...
        assert_eq!(p.check(T0, T0, T0 + 3 * 3600 * S, true), Ok(()));
        // ...but not the absolute limit.
        assert_eq!(
            p.check(T0, T0 + 43_199 * S, T0 + 43_200 * S, true),
            Err(SessionEnd::Absolute)
        );
        // Activity keeps a session alive until the absolute limit.
        let last = T0 + 43_000 * S;
        assert_eq!(p.check(T0, last, T0 + 43_199 * S, false), Ok(()));
        assert_eq!(
            p.check(T0, last, T0 + 43_200 * S, false),
            Err(SessionEnd::Absolute)
        );
        // Past both limits, the absolute limit is reported.
        assert_eq!(
            p.check(T0, T0, T0 + 50_000 * S, false),
            Err(SessionEnd::Absolute)
        );
        assert_eq!(SessionEnd::Idle.code(), "session_idle_timeout");
        assert_eq!(SessionEnd::Absolute.code(), "session_absolute_timeout");
    }

    #[test]
    fn session_end_time() {
        let p = SessionPolicy::default();
        assert_eq!(p.ends_at_us(T0, T0, false), T0 + 1800 * S);
        assert_eq!(p.ends_at_us(T0, T0, true), T0 + 43_200 * S);
        assert_eq!(p.ends_at_us(T0, T0 + 42_000 * S, false), T0 + 43_200 * S);
        let end = p.ends_at_us(T0, T0 + 100 * S, false);
        assert_eq!(p.check(T0, T0 + 100 * S, end - 1, false), Ok(()));
        assert!(p.check(T0, T0 + 100 * S, end, false).is_err());
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let p = SessionPolicy::default();
        assert_eq!(
            p.check(i64::MIN, i64::MIN, i64::MAX, true),
            Err(SessionEnd::Absolute)
        );
        assert_eq!(p.check(i64::MAX, i64::MAX, i64::MIN, false), Ok(()));
        let state = LockoutState::default()
            .after_failure(i64::MIN)
            .after_failure(i64::MAX);
        assert_eq!(state.failed_count, 1);
        assert_eq!(p.ends_at_us(i64::MAX, i64::MAX, false), i64::MAX);
    }

    proptest! {
        #[test]
        fn fewer_than_five_failures_never_lock(
            gaps in proptest::collection::vec(0i64..2_000 * S, 0..(MAX_FAILED_LOGONS as usize)),
        ) {
            let mut state = LockoutState::default();
            let mut now = T0;
            for gap in gaps {
                now += gap;
                state = state.after_failure(now);
                prop_assert!(!state.is_locked());
            }
        }

        #[test]
        fn five_failures_within_window_lock(
            gaps in proptest::collection::vec(0i64..=225 * S, 4),
            prior in proptest::collection::vec(0i64..5_000 * S, 0..4),
        ) {
            // Some unrelated earlier failures, then a success, then five
            // failures spread over at most 900 s.
            let mut state = LockoutState::default();
            let mut now = T0;
            for gap in prior {
                now += gap;
                state = state.after_failure(now);
            }
            state = state.after_success();
            now += 1_000 * S;
            state = state.after_failure(now);
            for gap in gaps {
                now += gap;
                prop_assert!(!state.is_locked());
                state = state.after_failure(now);
            }
            prop_assert!(state.is_locked());
        }

        #[test]
        fn success_in_between_prevents_lock(
            before in 0u32..MAX_FAILED_LOGONS,
            gaps in proptest::collection::vec(0i64..60 * S, 8),
        ) {
            // Any number of failures short of five, a success, and again
            // fewer than five: the account stays unlocked.
            let after = MAX_FAILED_LOGONS - 1;
            let mut state = LockoutState::default();
            let mut now = T0;
            let mut gaps = gaps.into_iter();
            for _ in 0..before {
                now += gaps.next().unwrap_or(0);
                state = state.after_failure(now);
            }
            state = state.after_success();
            prop_assert_eq!(state.failed_count, 0);
            for _ in 0..after {
                now += gaps.next().unwrap_or(0);
                state = state.after_failure(now);
                prop_assert!(!state.is_locked());
            }
        }

        #[test]
        fn exempt_never_outlives_absolute_limit(
            age in 0i64..100_000 * S,
            idle in 0i64..100_000 * S,
        ) {
            let p = SessionPolicy::default();
            let now = T0 + age;
            let last_seen = now - idle.min(age);
            let result = p.check(T0, last_seen, now, true);
            prop_assert_eq!(result.is_err(), age >= 43_200 * S);
            if age >= 43_200 * S {
                prop_assert_eq!(p.check(T0, last_seen, now, false), Err(SessionEnd::Absolute));
            }
        }
    }
}
