//! How often and how long a provider send is tried: the policy, the backoff
//! between attempts and the loop that runs them.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::attempt::AttemptFailure;
use crate::journeys::notifier::ProviderError;

/// Timeout, attempt count and backoff of provider sends.
///
/// The wait before retry `n` (1 for the first retry) is drawn uniformly from
/// `[0, min(max_backoff, base_backoff * 2^(n-1))]` ("full jitter"). When the
/// failed response carries `Retry-After`, the client waits that long instead,
/// capped at `max_retry_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per send, the first one included; 0 counts as 1.
    pub attempts: u32,
    /// Time one attempt may take, from connecting to the end of the response body.
    pub timeout: Duration,
    /// Backoff cap before the first retry; it doubles with each retry.
    pub base_backoff: Duration,
    /// Largest backoff cap.
    pub max_backoff: Duration,
    /// Largest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            timeout: Duration::from_secs(3),
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Returns the number of attempts a send gets, at least 1.
    pub fn max_attempts(&self) -> u32 {
        self.attempts.max(1)
    }

    /// Returns the upper bound of the jittered wait before retry `retry`
    /// (1 for the first retry).
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.base_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }

    /// Returns the wait before retry `retry`: the provider's `Retry-After` if
    /// it sent one (capped), else a uniform draw from `[0, backoff_cap(retry)]`.
    pub fn wait_before_retry(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        if let Some(requested) = retry_after {
            return requested.min(self.max_retry_after);
        }
        let cap_micros = u64::try_from(self.backoff_cap(retry).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.random_range(0..=cap_micros))
    }
}

/// The provider and flow a send belongs to, for its log lines and errors.
pub(super) struct SendContext<'a> {
    pub provider: &'static str,
    pub flow_id: &'a str,
}

impl<'a> SendContext<'a> {
    /// Takes the flow id from an idempotency key: the engine builds every key
    /// as `{flow_id}:…`. A key without `:` is logged whole.
    pub fn new(provider: &'static str, idempotency_key: &'a str) -> Self {
        let flow_id = idempotency_key.split(':').next().unwrap_or(idempotency_key);
        Self { provider, flow_id }
    }
}

/// Runs `attempt` until it succeeds, fails permanently or has used every
/// attempt of `policy`, waiting between attempts. Returns what the successful
/// attempt returned.
pub(super) async fn send_with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    context: &SendContext<'_>,
    mut attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptFailure>>,
{
    let attempts = policy.max_attempts();
    let mut number = 1;
    loop {
        let failure = match attempt().await {
            Ok(response) => return Ok(response),
            Err(failure) => failure,
        };
        if !failure.is_retryable() || number == attempts {
            return Err(final_error(context, number, &failure));
        }

        let wait = policy.wait_before_retry(number, failure.retry_after(), &mut rand::rng());
        tracing::warn!(
            flow_id = %context.flow_id,
            provider = context.provider,
            attempt = number,
            reason = %failure,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "provider send failed; retrying"
        );
        tokio::time::sleep(wait).await;
        number += 1;
    }
}

/// Logs the failure that ends a send after `attempt` attempts and returns
/// it as the send's error.
fn final_error(context: &SendContext<'_>, attempt: u32, failure: &AttemptFailure) -> ProviderError {
    let permanent = !failure.is_retryable();
    tracing::warn!(
        flow_id = %context.flow_id,
        provider = context.provider,
        attempt,
        reason = %failure,
        permanent,
        "provider send failed; giving up"
    );
    let reason = if permanent {
        format!("permanent failure, not retried: {failure}")
    } else {
        format!("gave up after {attempt} attempts; last failure: {failure}")
    };
    ProviderError {
        provider: context.provider,
        reason,
        permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn backoff_cap_doubles_up_to_max() {
        let policy = RetryPolicy::default();
        let expected_ms = [100, 200, 400, 800, 1600, 2000, 2000];
        for (index, expected) in expected_ms.into_iter().enumerate() {
            let retry = index as u32 + 1;
            assert_eq!(
                policy.backoff_cap(retry),
                Duration::from_millis(expected),
                "cap before retry {retry}"
            );
        }
        assert_eq!(policy.backoff_cap(u32::MAX), policy.max_backoff);
    }

    #[test]
    fn jittered_wait_within_zero_and_cap() {
        let policy = RetryPolicy::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for retry in 1..=6 {
            let cap = policy.backoff_cap(retry);
            let waits: Vec<Duration> = (0..1_000)
                .map(|_| policy.wait_before_retry(retry, None, &mut rng))
                .collect();
            assert!(
                waits.iter().all(|wait| *wait <= cap),
                "a wait before retry {retry} exceeds the cap {cap:?}"
            );
            let below_half = waits.iter().filter(|wait| **wait < cap / 2).count();
            assert!(
                (300..=700).contains(&below_half),
                "waits before retry {retry} are not spread over [0, cap]: {below_half} of 1000 below half"
            );
        }
    }

    #[test]
    fn retry_after_honoured_up_to_cap() {
        let policy = RetryPolicy::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let honoured = policy.wait_before_retry(1, Some(Duration::from_secs(1)), &mut rng);
        assert_eq!(honoured, Duration::from_secs(1), "Retry-After of 1 s");
        let capped = policy.wait_before_retry(1, Some(Duration::from_secs(60)), &mut rng);
        assert_eq!(capped, policy.max_retry_after, "Retry-After of 60 s");
    }

    #[test]
    fn zero_attempts_count_as_one() {
        let policy = RetryPolicy {
            attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.max_attempts(), 1);
    }

    #[test]
    fn flow_id_taken_from_key_prefix() {
        let context = SendContext::new("sms", "0123abcd:code:1:1767225600000");
        assert_eq!(context.flow_id, "0123abcd");
        let bare = SendContext::new("sms", "no-colon");
        assert_eq!(bare.flow_id, "no-colon");
    }
}
