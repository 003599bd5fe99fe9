//! The in-process stack: the reference service and the three mock providers
//! on 127.0.0.1, as `run` and `serve` start them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::journeys::hashing::HashProfile;
use crate::journeys::policy::Policy;
use crate::journeys::secrets;
use crate::providers::{MockProviders, ProviderSettings};
use crate::server::{self, RunningServer};
use crate::service::delay::{with_injected_delays, InjectedDelay};
use crate::service::provider_clients::{ProviderUrls, RetryPolicy, SmsSender};
use crate::service::{self as reference_service, ServiceConfig};

/// How to start the stack.
pub struct StackOptions {
    pub database: Option<PathBuf>,
    pub hash_profile: HashProfile,
    pub providers: ProviderSettings,
    pub admin_token: SecretString,
    pub server_key: SecretString,
    pub trust_forwarded_for: bool,
    /// The service's base URL as providers reach it, for status callbacks
    /// [default: from the service listener's address by `reachable_url`].
    pub public_url: Option<String>,
    /// Providers the service sends through instead of the built-in mocks.
    pub external_providers: ExternalProviders,
    /// Delays added to the service's responses on chosen routes, to check
    /// that a regression gate notices; empty in normal use.
    pub inject_delay: Vec<InjectedDelay>,
}

/// Base URLs of other providers that replace the mocks, each `None` to keep
/// the mock.
#[derive(Debug, Clone, Default)]
pub struct ExternalProviders {
    pub email: Option<String>,
    pub sms: Option<String>,
    pub postal: Option<String>,
}

impl StackOptions {
    /// Options with fresh random admin token and server key.
    pub fn new(
        database: Option<PathBuf>,
        hash_profile: HashProfile,
        providers: ProviderSettings,
    ) -> Self {
        Self {
            database,
            hash_profile,
            providers,
            admin_token: SecretString::from(secrets::session_token()),
            server_key: SecretString::from(secrets::session_token()),
            trust_forwarded_for: true,
            public_url: None,
            external_providers: ExternalProviders::default(),
            inject_delay: Vec::new(),
        }
    }
}

/// Listeners for the four servers; ephemeral loopback ports by default.
pub struct StackListeners {
    pub service: TcpListener,
    pub email: TcpListener,
    pub sms: TcpListener,
    pub postal: TcpListener,
}

impl StackListeners {
    pub async fn loopback() -> std::io::Result<Self> {
        Ok(Self {
            service: server::bind_loopback().await?,
            email: server::bind_loopback().await?,
            sms: server::bind_loopback().await?,
            postal: server::bind_loopback().await?,
        })
    }
}

/// Returns the base URL that reaches a server listening on `address` from
/// this host. A listener on every interface (0.0.0.0 or ::) is reached
/// through loopback.
fn reachable_url(mut address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        let loopback: IpAddr = match address {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        };
        address.set_ip(loopback);
    }
    format!("http://{address}")
}

/// The running service and mocks.
pub struct Stack {
    pub service: RunningServer,
    pub providers: MockProviders,
    pub admin_token: SecretString,
    pub engine: Arc<crate::journeys::Engine>,
    /// Base URLs the service sends through: the mocks, or the external providers chosen.
    pub service_providers: ProviderUrls,
    purger: tokio::task::JoinHandle<()>,
    notice_sender: tokio::task::JoinHandle<()>,
}

impl Stack {
    /// Starts the service, then the mocks it sends through.
    pub async fn start(options: StackOptions, listeners: StackListeners) -> anyhow::Result<Self> {
        // The service's state (and its database) is built first, so a bad
        // database path fails before any server starts.
        let external = &options.external_providers;
        let url = |chosen: &Option<String>, listener: &TcpListener| match chosen {
            Some(url) => Ok(url.clone()),
            None => listener.local_addr().map(|addr| format!("http://{addr}")),
        };
        let service_providers = ProviderUrls {
            email: url(&external.email, &listeners.email)?,
            sms: url(&external.sms, &listeners.sms)?,
            postal: url(&external.postal, &listeners.postal)?,
        };
        let public_url = match options.public_url {
            Some(url) => url,
            None => reachable_url(listeners.service.local_addr()?),
        };
        let config = ServiceConfig {
            database: options.database.clone(),
            hash_profile: options.hash_profile,
            policy: Policy::default(),
            admin_token: options.admin_token.clone(),
            server_key: options.server_key,
            providers: service_providers.clone(),
            provider_retry: RetryPolicy::default(),
            sms_sender: SmsSender::default(),
            public_url: Some(public_url),
            trust_forwarded_for: options.trust_forwarded_for,
        };

        let state = reference_service::build_state_with_system_clock(config)
            .await
            .with_context(|| match &options.database {
                Some(path) => format!(
                    "cannot open the service database {}; check that its folder exists and is writable",
                    path.display()
                ),
                None => "cannot start the service's in-memory store".to_owned(),
            })?;

        let providers = MockProviders::spawn_on(
            options.providers,
            listeners.email,
            listeners.sms,
            listeners.postal,
        )
        .await?;

        let engine = Arc::clone(&state.engine);
        let purger = reference_service::spawn_purger(Arc::clone(&engine));
        let notice_sender = reference_service::spawn_notice_sender(Arc::clone(&engine));
        let router = with_injected_delays(reference_service::router(state), &options.inject_delay);
        let service = server::spawn(listeners.service, router)?;
        tracing::info!(service = %service.addr, hash_profile = engine.hash_profile().name(), "reference service started");
        for entry in &options.inject_delay {
            tracing::warn!(path = %entry.path, delay_ms = entry.delay.as_secs_f64() * 1000.0, "injected delay before the service handles requests");
        }
        Ok(Self {
            service,
            providers,
            admin_token: options.admin_token,
            engine,
            service_providers,
            purger,
            notice_sender,
        })
    }

    pub fn provider_urls(&self) -> ProviderUrls {
        ProviderUrls {
            email: self.providers.email.url(),
            sms: self.providers.sms.url(),
            postal: self.providers.postal.url(),
        }
    }

    /// Stops the service first, so no step is cut off from its providers.
    /// Notices not sent yet stay in the store; a SQLite file keeps them for
    /// the next start.
    pub async fn stop(self) -> std::io::Result<()> {
        self.purger.abort();
        self.notice_sender.abort();
        let service = self.service.stop().await;
        let providers = self.providers.stop().await;
        service.and(providers)
    }
}

#[cfg(test)]
mod tests {
    use super::reachable_url;

    #[test]
    fn reachable_url_replaces_unspecified_address() {
        let cases = [
            ("127.0.0.1:4000", "http://127.0.0.1:4000"),
            ("0.0.0.0:4000", "http://127.0.0.1:4000"),
            ("[::]:4000", "http://[::1]:4000"),
            ("192.0.2.7:4000", "http://192.0.2.7:4000"),
        ];
        for (address, expected) in cases {
            assert_eq!(
                reachable_url(address.parse().unwrap()),
                expected,
                "listening on {address}"
            );
        }
    }
}
