//! The front desk that every send endpoint shares: outage windows, idempotency
//! keys, per-attempt draws and the injected failures that reject a send.
//!
//! A mock locks its own state, calls [`Desk::admit`] to decide the attempt, and
//! builds its provider-shaped response from the outcome.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::sync::watch;
use tokio::time::Instant;

use super::attempts::{Attempt, AttemptBook};
use super::callbacks::Callbacks;
use super::faults::{draw_attempt, outage_at, seconds, AttemptDraw, AttemptId, Fault, Provider};
use super::profile::{ChannelProfile, OutageKind};
use super::serve::reset_connection;
use super::stats::{Counter, MockStats};
use super::timeline::stopped;

/// The mocks' shared clock and stop signal.
#[derive(Clone)]
pub(crate) struct Runtime {
    /// When the mocks started; outage windows count from here.
    pub(crate) started: Instant,
    stop: watch::Receiver<bool>,
    /// The sender of a standalone runtime, kept so that `stop` stays open while
    /// any clone lives.
    _sender: Option<Arc<watch::Sender<bool>>>,
}

impl Runtime {
    pub(crate) fn new(started: Instant, stop: watch::Receiver<bool>) -> Self {
        Self {
            started,
            stop,
            _sender: None,
        }
    }

    /// Returns a runtime that starts now and stops when its last clone is
    /// dropped, for a mock that serves outside [`super::MockProviders`].
    pub(crate) fn standalone() -> Self {
        let (sender, stop) = watch::channel(false);
        Self {
            started: Instant::now(),
            stop,
            _sender: Some(Arc::new(sender)),
        }
    }

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Waits for `duration`, or less if the mocks stop meanwhile.
    pub(crate) async fn hold(&self, duration: Duration) {
        let mut stop = self.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = stopped(&mut stop) => {}
        }
    }
}

/// The decision on one send attempt.
pub(crate) enum Admission {
    /// An outage window rejects the attempt.
    Outage(OutageKind),
    /// The idempotency key already created message `id`, so respond with it again.
    Replay(String),
    /// A drawn fault rejects the attempt before anything is accepted.
    Reject(AttemptDraw),
    /// Accept the message, with `draw.fault` applied to its delivery (or none).
    Accept(AttemptDraw),
}

/// The parts of a mock that decide how a send attempt goes.
pub(crate) struct Desk {
    pub(crate) provider: Provider,
    pub(crate) profile: ChannelProfile,
    seed: u64,
    pub(crate) runtime: Runtime,
    pub(crate) stats: MockStats,
    pub(crate) callbacks: Callbacks,
}

impl Desk {
    pub(crate) fn new(
        provider: Provider,
        profile: ChannelProfile,
        seed: u64,
        runtime: Runtime,
    ) -> Self {
        Self {
            provider,
            profile,
            seed,
            runtime,
            stats: MockStats::new(),
            callbacks: Callbacks::new(provider.name()),
        }
    }

    /// Decides a validated send attempt to `recipient` (canonical form) at `now`,
    /// and counts it.
    ///
    /// An outage rejects the attempt before its key is looked at, so it uses up
    /// neither a message ordinal nor an attempt number.
    pub(crate) fn admit(
        &self,
        book: &mut AttemptBook,
        now: Instant,
        recipient: &str,
        key: Option<&str>,
    ) -> Admission {
        self.stats.add(Counter::Requests);
        if let Some(kind) = outage_at(
            &self.profile,
            now.saturating_duration_since(self.runtime.started),
        ) {
            self.stats.add(Counter::OutageRejections);
            return Admission::Outage(kind);
        }

        let (message_ordinal, attempt) = match book.begin(recipient, key) {
            Attempt::Replay { id } => {
                self.stats.add(Counter::Retries);
                self.stats.add(Counter::Replayed);
                return Admission::Replay(id);
            }
            Attempt::Draw {
                message_ordinal,
                attempt,
                retry,
            } => {
                if retry {
                    self.stats.add(Counter::Retries);
                }
                (message_ordinal, attempt)
            }
        };

        let id = AttemptId {
            provider: self.provider,
            recipient,
            message_ordinal,
            attempt,
        };
        let draw = draw_attempt(self.seed, &self.profile, &id);
        if let Some(fault) = draw.fault {
            self.stats.add_fault(fault);
            tracing::debug!(
                provider = self.provider.name(),
                fault = fault.name(),
                attempt,
                "fault injected"
            );
        }
        match draw.fault {
            Some(
                Fault::Http500
                | Fault::Http503
                | Fault::Http429
                | Fault::ConnectionReset
                | Fault::HangBeforeAccept,
            ) => Admission::Reject(draw),
            _ => {
                self.stats.add(Counter::Accepted);
                Admission::Accept(draw)
            }
        }
    }

    /// Waits and builds the response to a rejected attempt, with `error` building the
    /// provider-shaped error body for a status.
    async fn reject(&self, draw: &AttemptDraw, error: impl Fn(StatusCode) -> Response) -> Response {
        let settings = &self.profile.fault_settings;
        match draw.fault {
            Some(Fault::HangBeforeAccept) => {
                self.runtime.hold(seconds(settings.hang_s)).await;
                error(StatusCode::SERVICE_UNAVAILABLE)
            }
            Some(Fault::ConnectionReset) => {
                self.runtime.hold(draw.latency).await;
                reset_connection()
            }
            Some(Fault::Http429) => {
                self.runtime.hold(draw.latency).await;
                let mut response = error(StatusCode::TOO_MANY_REQUESTS);
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(settings.retry_after_s),
                );
                response
            }
            Some(Fault::Http500) => {
                self.runtime.hold(draw.latency).await;
                error(StatusCode::INTERNAL_SERVER_ERROR)
            }
            _ => {
                self.runtime.hold(draw.latency).await;
                error(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }

    /// Waits and builds the response to an attempt whose state is already
    /// recorded. Rejections and outages get the error that `error` builds for a
    /// status. Accepted and replayed attempts get what `respond` builds from the
    /// message's view and whether it was replayed.
    pub(crate) async fn respond_to<V>(
        &self,
        admission: Admission,
        view: Option<V>,
        error: impl Fn(StatusCode) -> Response,
        respond: impl FnOnce(Option<V>, bool) -> Response,
    ) -> Response {
        match admission {
            Admission::Outage(kind) => self.outage(kind, error).await,
            Admission::Reject(draw) => self.reject(&draw, error).await,
            Admission::Accept(draw) => {
                self.before_answer(&draw).await;
                respond(view, false)
            }
            Admission::Replay(_) => respond(view, true),
        }
    }

    /// Builds the response of an outage window.
    async fn outage(&self, kind: OutageKind, error: impl Fn(StatusCode) -> Response) -> Response {
        match kind {
            OutageKind::Http503 => error(StatusCode::SERVICE_UNAVAILABLE),
            OutageKind::ConnectionReset => reset_connection(),
            OutageKind::Hang => {
                self.runtime
                    .hold(seconds(self.profile.fault_settings.hang_s))
                    .await;
                error(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }

    /// Waits before the response to an accepted attempt: its latency, or the hold of
    /// a hang after acceptance.
    async fn before_answer(&self, draw: &AttemptDraw) {
        let wait = match draw.fault {
            Some(Fault::HangAfterAccept) => seconds(self.profile.fault_settings.hang_s),
            _ => draw.latency,
        };
        self.runtime.hold(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk() -> Desk {
        Desk::new(
            Provider::Sms,
            ChannelProfile::default(),
            1,
            Runtime::standalone(),
        )
    }

    #[tokio::test]
    async fn key_replays_after_acceptance() {
        let desk = desk();
        let mut book = AttemptBook::new();
        let now = Instant::now();
        assert!(matches!(
            desk.admit(&mut book, now, "5555550142", Some("k")),
            Admission::Accept(_)
        ));
        book.accept("5555550142", Some("k"), "SM1");
        match desk.admit(&mut book, now, "5555550142", Some("k")) {
            Admission::Replay(id) => assert_eq!(id, "SM1"),
            _ => panic!("a known key replays"),
        }
        let stats = desk.stats.snapshot();
        assert_eq!(
            (
                stats.requests,
                stats.accepted,
                stats.retries,
                stats.replayed
            ),
            (2, 1, 1, 1)
        );
    }
}
