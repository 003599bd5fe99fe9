//! Status callbacks and webhooks that the mocks send to the URL a send named.
//!
//! Each callback runs in its own task, so it never delays the send's response or
//! a delivery. It tries at most 3 times with a 2 s timeout each, then gives up
//! with a warning. Only `http` URLs on a loopback host are accepted, because the
//! mocks listen on 127.0.0.1 and must never send traffic to another host.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use serde::Serialize;

/// Tries per callback.
pub const CALLBACK_TRIES: u32 = 3;

/// Timeout of one callback try.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause before the second try; it doubles before the third.
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// Sends callbacks for one mock.
#[derive(Clone)]
pub(crate) struct Callbacks {
    client: reqwest::Client,
    provider: &'static str,
}

/// The body of one callback.
enum Payload {
    Form(Vec<(&'static str, String)>),
    Json(serde_json::Value),
}

impl Callbacks {
    pub(crate) fn new(provider: &'static str) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CALLBACK_TIMEOUT)
            .build()
            .expect("a client without TLS or proxies builds");
        Self { client, provider }
    }

    /// Posts `fields` form-encoded to `url` in the background.
    pub(crate) fn post_form(
        &self,
        url: Url,
        message_id: String,
        fields: Vec<(&'static str, String)>,
    ) {
        self.spawn(url, message_id, Payload::Form(fields));
    }

    /// Posts `body` as JSON to `url` in the background.
    pub(crate) fn post_json(&self, url: Url, message_id: String, body: &impl Serialize) {
        match serde_json::to_value(body) {
            Ok(body) => self.spawn(url, message_id, Payload::Json(body)),
            Err(error) => {
                tracing::warn!(provider = self.provider, id = %message_id, %error, "callback body does not serialize")
            }
        }
    }

    fn spawn(&self, url: Url, message_id: String, payload: Payload) {
        let callbacks = self.clone();
        // Outside a runtime (unit tests of the state) no callback can be sent.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move { callbacks.deliver(url, message_id, payload).await });
    }

    async fn deliver(&self, url: Url, message_id: String, payload: Payload) {
        let mut pause = FIRST_PAUSE;
        for attempt in 1..=CALLBACK_TRIES {
            let request = self.client.post(url.clone());
            let request = match &payload {
                Payload::Form(fields) => request.form(fields),
                Payload::Json(body) => request.json(body),
            };
            let failure = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    tracing::debug!(provider = self.provider, id = %message_id, attempt, "callback delivered");
                    return;
                }
                Ok(response) => format!("status {}", response.status().as_u16()),
                Err(error) => error.without_url().to_string(),
            };
            if attempt == CALLBACK_TRIES {
                tracing::warn!(provider = self.provider, id = %message_id, attempt, reason = %failure, "callback failed; giving up");
                return;
            }
            tracing::debug!(provider = self.provider, id = %message_id, attempt, reason = %failure, "callback failed; retrying");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

/// Checks a callback URL: absolute, `http`, on a loopback host (127.0.0.0/8,
/// `[::1]` or `localhost`), at most 2,048 characters.
pub(crate) fn check_callback_url(raw: &str) -> Result<Url, String> {
    if raw.len() > 2_048 {
        return Err("the callback URL is longer than 2048 characters".to_owned());
    }
    let url = Url::parse(raw)
        .map_err(|error| format!("the callback URL is not an absolute URL ({error})"))?;
    if url.scheme() != "http" {
        return Err("the callback URL must use http".to_owned());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    if !loopback {
        return Err("the callback URL must name a loopback host (127.0.0.1, [::1] or localhost); the mocks call no other host".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_accepted() {
        for url in [
            "http://127.0.0.1:8080/v1/provider-events/sms",
            "http://localhost/x",
            "http://[::1]:9/",
            "http://127.1.2.3/",
        ] {
            assert!(check_callback_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn other_urls_rejected() {
        for url in [
            "https://127.0.0.1/x",
            "http://example.org/x",
            "http://10.0.0.1/x",
            "http://169.254.169.254/latest",
            "/v1/provider-events/sms",
            "ftp://127.0.0.1/",
            "http://localhost.example.org/",
        ] {
            assert!(check_callback_url(url).is_err(), "{url}");
        }
    }
}
