//! Mock email, SMS and postal providers that deliver into inboxes synthetic people
//! read. Each mock is an axum [`Router`] that any system can call by base URL.
//!
//! The SMS mock speaks a subset of Twilio's Messages API, the postal mock a
//! subset of Lob's letters API, and the email mock its own send API with a
//! subset of Mailpit's read API. A fault profile ([`FaultProfile`]) sets their
//! latency, faults, delivery delays and outages. docs/providers.md describes the
//! HTTP API and mocks/README.md the profile format.

pub mod attempts;
mod callbacks;
mod desk;
mod email;
pub mod faults;
mod fields;
mod inbox;
mod lob;
mod mailpit;
mod postal;
mod problem;
pub mod profile;
mod serve;
mod sms;
mod stats;
mod timeline;

use std::ops::RangeInclusive;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::Router;
use chrono::{Datelike, NaiveDate, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::server::{bind_loopback, spawn_serving, RunningServer};
use desk::Runtime;

pub use callbacks::{CALLBACK_TIMEOUT, CALLBACK_TRIES};
pub use email::{email_router, EmailState, MAILPIT_CAPACITY, MAX_EMAIL_ADDRESS_CHARS};
pub use faults::{Fault, Provider};
pub use fields::{MAX_IDEMPOTENCY_KEY_CHARS, MAX_TEXT_BYTES};
pub use inbox::{IDEMPOTENCY_CAPACITY, INBOX_CAPACITY};
pub use mailpit::MAX_MAILPIT_LIMIT;
pub use postal::{postal_router, PostalState};
pub use profile::{FaultProfile, ProfileError};
pub use sms::{sms_router, SmsState, TWILIO_IDEMPOTENCY_HEADER};
pub use stats::{DelayPercentiles, ProviderStats};

/// Maximum size of a request body, in bytes. Larger bodies get a 413 problem document.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Maximum value of [`ProviderSettings::seconds_per_business_day`], about 31 years,
/// which keeps every transit time within the range of an `Instant`.
pub const MAX_SECONDS_PER_BUSINESS_DAY: f64 = 1e9;

/// Maximum end of [`ProviderSettings::postal_transit_business_days`].
pub const MAX_TRANSIT_BUSINESS_DAYS: u32 = 1_000;

/// Settings shared by the three mock providers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// Seed of the per-attempt draws, mixed with the profile's seed (see
    /// [`Self::draw_seed`]).
    pub seed: u64,
    /// Real seconds that one business day lasts on the mocks' clock. 86400.0 runs in
    /// real time, and 0.01 turns a 10-day transit into a tenth of a second.
    pub seconds_per_business_day: f64,
    /// Range from which each letter's transit time in business days is drawn
    /// uniformly, unless the profile sets `postal.delivery_delay`.
    pub postal_transit_business_days: RangeInclusive<u32>,
    /// Virtual date of the postal mock when it starts.
    pub start_date: NaiveDate,
    /// Latency, faults, delivery delays and outages of the three mocks.
    pub profile: FaultProfile,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            seed: 0,
            seconds_per_business_day: 86_400.0,
            postal_transit_business_days: 5..=10,
            start_date: Utc::now().date_naive(),
            profile: FaultProfile::healthy(),
        }
    }
}

/// An invalid field of [`ProviderSettings`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderSettingsError {
    #[error(
        "seconds_per_business_day must be greater than 0, got {0}; set a positive number of seconds"
    )]
    SecondsPerBusinessDayNotPositive(f64),
    #[error(
        "seconds_per_business_day must be at most {MAX_SECONDS_PER_BUSINESS_DAY}, got {0}; \
         set a smaller number of seconds (86400 runs in real time)"
    )]
    SecondsPerBusinessDayTooLarge(f64),
    #[error(
        "postal_transit_business_days must not be empty, got {start}..={end}; \
         set a start no greater than the end, such as 5..=10"
    )]
    EmptyTransitRange { start: u32, end: u32 },
    #[error(
        "postal_transit_business_days must end at most at {MAX_TRANSIT_BUSINESS_DAYS}, got {start}..={end}; \
         set a smaller end"
    )]
    TransitRangeTooLong { start: u32, end: u32 },
    #[error("start_date must be in the years 1 to 9999, got {0}; set a date such as 2026-01-05")]
    StartDateOutOfRange(NaiveDate),
}

impl ProviderSettings {
    /// Returns the seed of the per-attempt draws: the profile's seed mixed with
    /// [`Self::seed`], so that the same profile and scenario seed give the same
    /// faults.
    pub fn draw_seed(&self) -> u64 {
        self.seed ^ self.profile.seed.rotate_left(32)
    }

    /// Checks every field and returns the first invalid one.
    pub fn validate(&self) -> Result<(), ProviderSettingsError> {
        let seconds = self.seconds_per_business_day;
        if seconds.is_nan() || seconds <= 0.0 {
            return Err(ProviderSettingsError::SecondsPerBusinessDayNotPositive(
                seconds,
            ));
        }
        if seconds > MAX_SECONDS_PER_BUSINESS_DAY {
            return Err(ProviderSettingsError::SecondsPerBusinessDayTooLarge(
                seconds,
            ));
        }

        let (start, end) = self.postal_transit_business_days.clone().into_inner();
        if start > end {
            return Err(ProviderSettingsError::EmptyTransitRange { start, end });
        }
        if end > MAX_TRANSIT_BUSINESS_DAYS {
            return Err(ProviderSettingsError::TransitRangeTooLong { start, end });
        }

        // Dates outside these years do not print as YYYY-MM-DD.
        if !(1..=9999).contains(&self.start_date.year()) {
            return Err(ProviderSettingsError::StartDateOutOfRange(self.start_date));
        }
        Ok(())
    }
}

/// The three mock providers, each serving on its own port.
pub struct MockProviders {
    pub email: RunningServer,
    pub sms: RunningServer,
    pub postal: RunningServer,
    /// Ends hangs and timer tasks when the mocks stop.
    stop: watch::Sender<bool>,
}

impl MockProviders {
    /// Starts the three mocks, each on an ephemeral port of 127.0.0.1.
    ///
    /// Invalid settings fail with [`std::io::ErrorKind::InvalidInput`].
    pub async fn spawn(settings: ProviderSettings) -> std::io::Result<MockProviders> {
        settings.validate().map_err(invalid_settings)?;
        let email = bind_loopback().await?;
        let sms = bind_loopback().await?;
        let postal = bind_loopback().await?;
        Self::spawn_on(settings, email, sms, postal).await
    }

    /// Starts the three mocks on listeners the caller has bound. Outage windows
    /// count from this call.
    ///
    /// Invalid settings fail with [`std::io::ErrorKind::InvalidInput`].
    pub async fn spawn_on(
        settings: ProviderSettings,
        email: TcpListener,
        sms: TcpListener,
        postal: TcpListener,
    ) -> std::io::Result<MockProviders> {
        let (stop, stop_signal) = watch::channel(false);
        let runtime = Runtime::new(Instant::now(), stop_signal);
        let postal_state =
            PostalState::with_runtime(&settings, runtime.clone()).map_err(invalid_settings)?;
        let email_state = EmailState::with_runtime(&settings, runtime.clone());
        let sms_state = SmsState::with_runtime(&settings, runtime);
        let providers = MockProviders {
            email: spawn_mock(email, email_router(email_state))?,
            sms: spawn_mock(sms, sms_router(sms_state))?,
            postal: spawn_mock(postal, postal_router(postal_state))?,
            stop,
        };
        tracing::info!(
            email = %providers.email.addr,
            sms = %providers.sms.addr,
            postal = %providers.postal.addr,
            profile = %settings.profile.path.as_deref().map_or("healthy".into(), |path| path.display().to_string()),
            "mock providers started"
        );
        Ok(providers)
    }

    /// Stops the three mocks, cutting hangs short and letting other open requests
    /// finish, and returns the first error any of them reported.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        let email = self.email.stop().await;
        let sms = self.sms.stop().await;
        let postal = self.postal.stop().await;
        tracing::info!("mock providers stopped");
        email.and(sms).and(postal)
    }
}

/// Serves a mock's router in a background task with [`serve::serve_mock`].
fn spawn_mock(listener: TcpListener, router: Router) -> std::io::Result<RunningServer> {
    spawn_serving(listener, move |listener, shutdown| {
        serve::serve_mock(listener, router, shutdown)
    })
}

fn invalid_settings(error: ProviderSettingsError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, error)
}

/// Adds what every mock shares: the body size limit and problem documents for
/// unknown paths and wrong methods.
fn finish_router(routes: Router) -> Router {
    routes
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Header set to "true" on a response to a repeated idempotency key.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("test dates are valid")
    }

    #[test]
    fn default_settings_are_valid() {
        let settings = ProviderSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.seed, 0);
        assert_eq!(settings.seconds_per_business_day, 86_400.0);
        assert_eq!(settings.postal_transit_business_days, 5..=10);
    }

    #[test]
    fn negative_seconds_message_names_fix() {
        let settings = ProviderSettings {
            seconds_per_business_day: -1.0,
            ..ProviderSettings::default()
        };
        let error = settings.validate().expect_err("negative seconds");
        assert_eq!(
            error.to_string(),
            "seconds_per_business_day must be greater than 0, got -1; set a positive number of seconds"
        );
    }

    #[test]
    fn zero_and_nan_seconds_rejected() {
        for seconds in [0.0, f64::NAN, f64::NEG_INFINITY] {
            let settings = ProviderSettings {
                seconds_per_business_day: seconds,
                ..ProviderSettings::default()
            };
            assert!(
                matches!(
                    settings.validate(),
                    Err(ProviderSettingsError::SecondsPerBusinessDayNotPositive(_))
                ),
                "{seconds}"
            );
        }
    }

    #[test]
    fn huge_seconds_rejected() {
        let settings = ProviderSettings {
            seconds_per_business_day: f64::INFINITY,
            ..ProviderSettings::default()
        };
        assert!(matches!(
            settings.validate(),
            Err(ProviderSettingsError::SecondsPerBusinessDayTooLarge(_))
        ));
    }

    #[test]
    fn transit_range_checked() {
        #[allow(clippy::reversed_empty_ranges)]
        let empty = ProviderSettings {
            postal_transit_business_days: 10..=5,
            ..ProviderSettings::default()
        };
        assert_eq!(
            empty.validate(),
            Err(ProviderSettingsError::EmptyTransitRange { start: 10, end: 5 })
        );
        assert!(empty
            .validate()
            .expect_err("empty")
            .to_string()
            .contains("got 10..=5"));

        let long = ProviderSettings {
            postal_transit_business_days: 5..=1_001,
            ..ProviderSettings::default()
        };
        assert_eq!(
            long.validate(),
            Err(ProviderSettingsError::TransitRangeTooLong {
                start: 5,
                end: 1_001
            })
        );

        let zero = ProviderSettings {
            postal_transit_business_days: 0..=0,
            ..ProviderSettings::default()
        };
        assert_eq!(zero.validate(), Ok(()));
    }

    #[test]
    fn start_date_years_checked() {
        let late = ProviderSettings {
            start_date: date(10_000, 1, 1),
            ..ProviderSettings::default()
        };
        assert_eq!(
            late.validate(),
            Err(ProviderSettingsError::StartDateOutOfRange(date(
                10_000, 1, 1
            )))
        );
        let early = ProviderSettings {
            start_date: date(0, 12, 31),
            ..ProviderSettings::default()
        };
        assert!(early.validate().is_err());
    }
}
