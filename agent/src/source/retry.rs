//! Retrying transient provider errors with exponential backoff and jitter.
//!
//! The AWS SDK's own retries are switched off so that there is exactly one
//! retry policy, applied the same way to listing pages and restores (a restore
//! whose body breaks halfway must start again from the first byte, which the
//! SDK cannot do).

use crate::source::SourceError;
use std::future::Future;
use std::time::Duration;

/// First delay; doubles each attempt.
const BASE_DELAY: Duration = Duration::from_millis(200);
/// Longest single delay.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// The delay before attempt `attempt + 1` (attempt counts from 1): full
/// jitter between half and all of the exponential step.
pub fn backoff(attempt: u32) -> Duration {
    let exp = BASE_DELAY.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let step = exp.min(MAX_DELAY);
    let jitter: f64 = rand::random::<f64>() * 0.5 + 0.5;
    step.mul_f64(jitter)
}

/// Runs `fut` for at most `timeout`; past it, a `Timeout`-class error that
/// names `what` and the bound.
///
/// # Errors
/// The future's own error, or the timeout.
pub async fn bounded<T>(
    timeout: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(SourceError::new(
            crate::source::ErrorClass::Timeout,
            format!(
                "{what} took longer than restore_timeout ({})",
                humantime_secs(timeout)
            ),
        )),
    }
}

fn humantime_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Runs `op` up to `attempts` times while it fails with a transient error.
/// Returns the last result and how many attempts were made.
pub async fn with_retries<T, F, Fut>(
    attempts: u32,
    what: &str,
    mut op: F,
) -> (Result<T, SourceError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SourceError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.class.is_transient() && attempt < attempts => {
                let delay = backoff(attempt);
                tracing::warn!(
                    what,
                    attempt,
                    class = %e.class,
                    error = %e.message,
                    delay_ms = delay.as_millis() as u64,
                    "A transient error interrupted the request; trying again."
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => return (other, attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ErrorClass;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_and_permanent_ones_are_not() {
        let calls = AtomicU32::new(0);
        let (r, n) = with_retries(4, "test", || async {
            let c = calls.fetch_add(1, Ordering::SeqCst);
            if c < 2 {
                Err(SourceError::new(ErrorClass::Throttled, "slow down"))
            } else {
                Ok(c)
            }
        })
        .await;
        assert_eq!((r.ok(), n), (Some(2), 3));

        let (r, n) = with_retries(4, "test", || async {
            Err::<(), _>(SourceError::new(ErrorClass::AccessDenied, "no"))
        })
        .await;
        assert_eq!((r.unwrap_err().class, n), (ErrorClass::AccessDenied, 1));

        let (r, n) = with_retries(3, "test", || async {
            Err::<(), _>(SourceError::new(ErrorClass::Server, "500"))
        })
        .await;
        assert_eq!((r.unwrap_err().class, n), (ErrorClass::Server, 3));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(200));
        assert!(backoff(4) >= Duration::from_millis(800));
        assert!(backoff(30) <= MAX_DELAY);
    }
}
