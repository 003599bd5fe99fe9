//! Deterministic per-attempt draws of faults, latency and delivery delay.
//!
//! Draws do not come from one generator in arrival order, because concurrency
//! would reorder them. Each attempt seeds its own ChaCha generator from a SHA-256
//! hash of (profile seed, provider, canonical recipient, ordinal of the message
//! among the distinct messages to that recipient, attempt number for its
//! idempotency key). The same profile, seed and sends therefore give the same
//! draws whatever the timing. This module uses no HTTP and no wall-clock
//! time, so the simulator can reuse it.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Exp, LogNormal};
use sha2::{Digest, Sha256};

use super::profile::{ChannelProfile, Distribution, OutageKind};

/// One of the three mock providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Email,
    Sms,
    Postal,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Email, Provider::Sms, Provider::Postal];

    /// Returns the name used in profiles, stats and logs: `email`, `sms` or `postal`.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Email => "email",
            Provider::Sms => "sms",
            Provider::Postal => "postal",
        }
    }
}

/// A fault kind that a profile can inject into an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Http500,
    Http503,
    Http429,
    ConnectionReset,
    /// Delays the response by `hang_s`, then responds with 503. Nothing is accepted.
    HangBeforeAccept,
    /// Accepts and delivers the message, then delays the response by `hang_s`.
    HangAfterAccept,
    /// Accepts the message and never delivers it, with no status callback.
    SilentLoss,
    /// Delivers the message twice.
    Duplicate,
    /// SMS only: the message ends `undelivered` with the profile's error code.
    Undeliverable,
    /// Email only: the message ends `bounced`.
    Bounce,
    /// Postal only: the letter goes back to the sender instead of the letterbox.
    ReturnedToSender,
}

impl Fault {
    /// Every fault kind, in the order in which draws map a uniform number to a kind.
    pub const ALL: [Fault; 11] = [
        Fault::Http500,
        Fault::Http503,
        Fault::Http429,
        Fault::ConnectionReset,
        Fault::HangBeforeAccept,
        Fault::HangAfterAccept,
        Fault::SilentLoss,
        Fault::Duplicate,
        Fault::Undeliverable,
        Fault::Bounce,
        Fault::ReturnedToSender,
    ];

    /// Returns the position of the kind in [`Fault::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Returns the key of the kind in profiles and stats, such as `http_500`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Http500 => "http_500",
            Fault::Http503 => "http_503",
            Fault::Http429 => "http_429",
            Fault::ConnectionReset => "connection_reset",
            Fault::HangBeforeAccept => "hang_before_accept",
            Fault::HangAfterAccept => "hang_after_accept",
            Fault::SilentLoss => "silent_loss",
            Fault::Duplicate => "duplicate",
            Fault::Undeliverable => "undeliverable",
            Fault::Bounce => "bounce",
            Fault::ReturnedToSender => "returned_to_sender",
        }
    }

    /// Returns the kind named `name`, or `None`.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.name() == name)
    }

    /// Returns whether a profile may set this kind for `provider`.
    pub fn applies_to(self, provider: Provider) -> bool {
        match self {
            Fault::Undeliverable => provider == Provider::Sms,
            Fault::Bounce => provider == Provider::Email,
            Fault::ReturnedToSender => provider == Provider::Postal,
            _ => true,
        }
    }

    /// Returns the provider names the kind applies to, for error messages.
    pub(crate) fn only_provider_names(self) -> &'static str {
        match self {
            Fault::Undeliverable => "sms",
            Fault::Bounce => "email",
            Fault::ReturnedToSender => "postal",
            _ => "email, sms and postal",
        }
    }
}

/// The identity of one attempt, from which its draw is seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptId<'a> {
    pub provider: Provider,
    /// The recipient in the provider's canonical form (address, digits, letterbox).
    pub recipient: &'a str,
    /// 1 for the first distinct message to this recipient, 2 for the next…
    pub message_ordinal: u64,
    /// 1 for the first attempt with an idempotency key, 2 for its first retry…
    /// Always 1 without a key.
    pub attempt: u32,
}

/// Returns the generator of one attempt, seeded from `seed` and `id`.
pub fn attempt_rng(seed: u64, id: &AttemptId<'_>) -> ChaCha8Rng {
    let mut hash = Sha256::new();
    hash.update(b"recoverylab fault draw v1\0");
    hash.update(seed.to_le_bytes());
    hash.update(id.provider.name().as_bytes());
    hash.update([0]);
    hash.update((id.recipient.len() as u64).to_le_bytes());
    hash.update(id.recipient.as_bytes());
    hash.update(id.message_ordinal.to_le_bytes());
    hash.update(id.attempt.to_le_bytes());
    ChaCha8Rng::from_seed(hash.finalize().into())
}

/// The outcome drawn for one attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptDraw {
    /// The injected fault, or `None` for a healthy attempt.
    pub fault: Option<Fault>,
    /// Time the API takes to respond.
    pub latency: Duration,
    /// Delivery delay in the delay key's unit: seconds for email and SMS,
    /// business days for postal. `None` when the profile sets no delay.
    pub delivery_delay: Option<f64>,
}

impl AttemptDraw {
    /// Returns the delivery delay as a duration, for email and SMS.
    pub fn delivery_delay_duration(&self) -> Duration {
        seconds(self.delivery_delay.unwrap_or(0.0))
    }
}

/// Draws the fault, latency and delivery delay of the attempt `id`.
///
/// The three draws always happen in this order, so the latency of an attempt does
/// not depend on whether it drew a fault.
pub fn draw_attempt(seed: u64, profile: &ChannelProfile, id: &AttemptId<'_>) -> AttemptDraw {
    let mut rng = attempt_rng(seed, id);
    let roll: f64 = rng.random();
    let latency_ms = sample(profile.latency.as_ref(), &mut rng);
    let delay = sample(profile.delivery_delay.as_ref(), &mut rng);
    AttemptDraw {
        fault: pick_fault(profile, roll),
        latency: Duration::from_secs_f64(latency_ms.unwrap_or(0.0) / 1_000.0),
        delivery_delay: delay,
    }
}

/// Maps a uniform number in [0, 1) to a fault kind by the cumulative probabilities.
pub(crate) fn pick_fault(profile: &ChannelProfile, roll: f64) -> Option<Fault> {
    let mut cumulative = 0.0;
    for fault in Fault::ALL {
        let probability = profile.faults.get(fault);
        if probability <= 0.0 {
            continue;
        }
        cumulative += probability;
        if roll < cumulative {
            return Some(fault);
        }
    }
    None
}

/// Draws one value of `distribution`, or `None` without one. Draws are clamped to
/// [0, 100 times the distribution's scale] so that a long tail cannot ask for
/// durations that overflow.
pub(crate) fn sample<R: Rng + ?Sized>(
    distribution: Option<&Distribution>,
    rng: &mut R,
) -> Option<f64> {
    let value = match *distribution? {
        Distribution::Fixed { value } => value,
        Distribution::Uniform { min, max } => {
            if min < max {
                rng.random_range(min..=max)
            } else {
                min
            }
        }
        Distribution::Exponential { mean } => match Exp::new(1.0 / mean) {
            Ok(exp) if mean > 0.0 => exp.sample(rng).min(mean * 100.0),
            _ => 0.0,
        },
        Distribution::Lognormal { median, sigma } => match LogNormal::new(median.ln(), sigma) {
            Ok(lognormal) => lognormal.sample(rng).min(median * 100.0),
            Err(_) => median,
        },
    };
    Some(value.max(0.0))
}

/// Returns how an outage fails a send at `elapsed` since the mocks started, or
/// `None` outside every outage. Windows include their start and exclude their end.
pub fn outage_at(profile: &ChannelProfile, elapsed: Duration) -> Option<OutageKind> {
    let elapsed = elapsed.as_secs_f64();
    profile
        .outages
        .iter()
        .find(|outage| outage.start_s <= elapsed && elapsed < outage.end_s)
        .map(|outage| outage.kind)
}

/// Returns the whole number of business days of a postal delay draw.
pub fn postal_business_days(delay: f64) -> u32 {
    // Validation caps delays at 1,000 days, and `as` saturates anyway.
    delay.round() as u32
}

/// Converts seconds to a duration, treating invalid values as zero.
pub(crate) fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::profile::FaultRates;

    fn id(recipient: &str, message_ordinal: u64, attempt: u32) -> AttemptId<'_> {
        AttemptId {
            provider: Provider::Sms,
            recipient,
            message_ordinal,
            attempt,
        }
    }

    fn with_faults(entries: &[(Fault, f64)]) -> ChannelProfile {
        let mut faults = FaultRates::default();
        for (fault, probability) in entries {
            faults.set(*fault, *probability);
        }
        ChannelProfile {
            faults,
            ..ChannelProfile::default()
        }
    }

    #[test]
    fn same_attempt_draws_same_outcome() {
        let profile = ChannelProfile {
            latency: Some(Distribution::Lognormal {
                median: 40.0,
                sigma: 0.5,
            }),
            ..with_faults(&[(Fault::Http500, 0.3)])
        };
        let first = draw_attempt(7, &profile, &id("5555550142", 1, 1));
        assert_eq!(first, draw_attempt(7, &profile, &id("5555550142", 1, 1)));
        let others = [
            draw_attempt(8, &profile, &id("5555550142", 1, 1)),
            draw_attempt(7, &profile, &id("5555550143", 1, 1)),
            draw_attempt(7, &profile, &id("5555550142", 2, 1)),
            draw_attempt(7, &profile, &id("5555550142", 1, 2)),
        ];
        for (case, other) in others.iter().enumerate() {
            assert_ne!(other.latency, first.latency, "case {case} draws anew");
        }
    }

    #[test]
    fn fault_rates_match_probabilities() {
        let profile = with_faults(&[
            (Fault::Http500, 0.1),
            (Fault::Http503, 0.1),
            (Fault::SilentLoss, 0.05),
        ]);
        let mut counts = [0u32; Fault::ALL.len()];
        let draws = 20_000;
        for n in 0..draws {
            if let Some(fault) = draw_attempt(1, &profile, &id("5555550142", n, 1)).fault {
                counts[fault.index()] += 1;
            }
        }
        let rate = |fault: Fault| f64::from(counts[fault.index()]) / draws as f64;
        assert!(
            (rate(Fault::Http500) - 0.1).abs() < 0.01,
            "{}",
            rate(Fault::Http500)
        );
        assert!(
            (rate(Fault::Http503) - 0.1).abs() < 0.01,
            "{}",
            rate(Fault::Http503)
        );
        assert!(
            (rate(Fault::SilentLoss) - 0.05).abs() < 0.01,
            "{}",
            rate(Fault::SilentLoss)
        );
        assert_eq!(counts[Fault::Duplicate.index()], 0);
    }

    #[test]
    fn certain_fault_always_drawn() {
        let profile = with_faults(&[(Fault::Bounce, 1.0)]);
        for n in 0..100 {
            let draw = draw_attempt(3, &profile, &id("a@example.org", n, 1));
            assert_eq!(draw.fault, Some(Fault::Bounce), "draw {n}");
        }
    }

    #[test]
    fn distributions_stay_in_range() {
        let uniform = ChannelProfile {
            latency: Some(Distribution::Uniform {
                min: 5.0,
                max: 10.0,
            }),
            delivery_delay: Some(Distribution::Exponential { mean: 0.2 }),
            ..ChannelProfile::default()
        };
        let mut delays = Vec::new();
        for n in 0..1_000 {
            let draw = draw_attempt(1, &uniform, &id("x", n, 1));
            let latency_ms = draw.latency.as_secs_f64() * 1_000.0;
            assert!(
                (5.0 - 1e-9..=10.0 + 1e-9).contains(&latency_ms),
                "{latency_ms}"
            );
            let delay = draw.delivery_delay.expect("a delay is set");
            assert!((0.0..=20.0).contains(&delay), "{delay}");
            delays.push(delay);
        }
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        assert!((mean - 0.2).abs() < 0.03, "mean delay {mean}");
    }

    #[test]
    fn fixed_and_absent_distributions() {
        let profile = ChannelProfile {
            latency: Some(Distribution::Fixed { value: 250.0 }),
            ..ChannelProfile::default()
        };
        let draw = draw_attempt(1, &profile, &id("x", 1, 1));
        assert_eq!(draw.latency, Duration::from_millis(250));
        assert_eq!(draw.delivery_delay, None);
        assert_eq!(draw.fault, None);
    }

    #[test]
    fn outage_window_excludes_its_end() {
        let profile = ChannelProfile {
            outages: vec![crate::providers::profile::Outage {
                start_s: 5.0,
                end_s: 12.0,
                kind: OutageKind::Http503,
            }],
            ..ChannelProfile::default()
        };
        assert_eq!(outage_at(&profile, Duration::from_secs(4)), None);
        assert_eq!(
            outage_at(&profile, Duration::from_secs(5)),
            Some(OutageKind::Http503)
        );
        assert_eq!(
            outage_at(&profile, Duration::from_millis(11_999)),
            Some(OutageKind::Http503)
        );
        assert_eq!(outage_at(&profile, Duration::from_secs(12)), None);
    }

    #[test]
    fn fault_names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(Fault::from_name(fault.name()), Some(fault));
            assert_eq!(Fault::ALL[fault.index()], fault);
        }
        assert_eq!(Fault::from_name("http_418"), None);
    }
}
