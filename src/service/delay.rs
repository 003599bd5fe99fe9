//! An injected delay on chosen routes, so that a regression gate can be
//! shown to catch a slower service.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::Router;

/// The maximum delay accepted. A regression check needs a few milliseconds,
/// and the load gives up on a step after 30 seconds.
pub const MAX_INJECTED_DELAY: Duration = Duration::from_secs(10);

/// A pause before the service handles requests to one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedDelay {
    /// A request path such as `/v1/forgot-username`, or a route pattern such
    /// as `/v1/flows/{flow_id}/answers` that covers every flow.
    pub path: String,
    pub delay: Duration,
}

impl std::str::FromStr for InjectedDelay {
    type Err = String;

    /// Parses `PATH=DURATION`, such as `/v1/forgot-username=5ms`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let Some((path, duration)) = value.rsplit_once('=') else {
            return Err(format!(
                "{value:?} has no '='; write PATH=DURATION, such as /v1/forgot-username=5ms"
            ));
        };
        if !path.starts_with('/') {
            return Err(format!(
                "the path {path:?} in {value:?} does not start with '/'; write PATH=DURATION, such as /v1/forgot-username=5ms"
            ));
        }
        if !is_service_route(path) {
            return Err(format!(
                "the path {path:?} in {value:?} is not a route of the service; use one of {}, or a request path that one of them matches",
                service_routes().join(", ")
            ));
        }
        let delay = parse_duration(duration).map_err(|reason| {
            format!("the duration {duration:?} in {value:?} {reason}; write a number with ms or s, such as 5ms or 0.5s")
        })?;
        if delay > MAX_INJECTED_DELAY {
            return Err(format!(
                "the duration {duration:?} in {value:?} is longer than the maximum of {} s; choose a shorter delay",
                MAX_INJECTED_DELAY.as_secs()
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            delay,
        })
    }
}

/// Returns the route patterns of the service, as its OpenAPI document lists them.
fn service_routes() -> Vec<String> {
    use utoipa::OpenApi;
    super::openapi::ApiDoc::openapi()
        .paths
        .paths
        .keys()
        .cloned()
        .collect()
}

/// Returns whether `path` is a route pattern of the service, or a request
/// path that one matches, a `{parameter}` segment matching any value.
fn is_service_route(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    service_routes().iter().any(|route| {
        let pattern: Vec<&str> = route.split('/').collect();
        pattern.len() == segments.len()
            && pattern.iter().zip(&segments).all(|(expected, actual)| {
                // A `{parameter}` in the value must name the route's own, because
                // the middleware compares it with the matched pattern as text.
                expected == actual
                    || (expected.starts_with('{')
                        && expected.ends_with('}')
                        && !actual.is_empty()
                        && !actual.starts_with('{'))
            })
    })
}

/// Parses a non-negative duration such as `5ms` or `0.5s`.
fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let seconds = crate::duration::parse_seconds(text)?;
    // Bounded before conversion, so that a huge value cannot overflow a Duration.
    Ok(Duration::from_secs_f64(
        seconds.min(MAX_INJECTED_DELAY.as_secs_f64() * 2.0),
    ))
}

/// Wraps `router` so that requests to the listed routes wait for their delay
/// before they are handled. Returns `router` unchanged when `delays` is empty,
/// so the service without delays pays nothing.
pub fn with_injected_delays(router: Router, delays: &[InjectedDelay]) -> Router {
    if delays.is_empty() {
        return router;
    }
    let delays: Arc<[InjectedDelay]> = delays.into();
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let delays = Arc::clone(&delays);
        async move {
            if let Some(delay) = delay_for(&delays, &request) {
                tokio::time::sleep(delay).await;
            }
            next.run(request).await
        }
    }))
}

/// Returns the delay of the first entry whose path is the request's path or
/// the pattern of the route it matched.
fn delay_for(delays: &[InjectedDelay], request: &Request) -> Option<Duration> {
    let path = request.uri().path();
    let pattern = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    delays
        .iter()
        .find(|entry| entry.path == path || Some(entry.path.as_str()) == pattern)
        .map(|entry| entry.delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    #[test]
    fn parses_milliseconds_and_seconds() {
        let cases = [
            ("/v1/forgot-username=5ms", "/v1/forgot-username", 5_000),
            (
                "/v1/flows/{flow_id}/answers=0.5s",
                "/v1/flows/{flow_id}/answers",
                500_000,
            ),
            ("/health=0ms", "/health", 0),
            ("/health=10s", "/health", 10_000_000),
        ];
        for (value, path, micros) in cases {
            let parsed: InjectedDelay = value
                .parse()
                .unwrap_or_else(|error| panic!("{value}: {error}"));
            assert_eq!(parsed.path, path, "path of {value}");
            assert_eq!(
                parsed.delay,
                Duration::from_micros(micros),
                "delay of {value}"
            );
        }
    }

    #[test]
    fn accepts_routes_and_request_paths() {
        for value in [
            "/v1/flows/{flow_id}/answers=5ms",
            "/v1/flows/3f2a/answers=5ms",
            "/v1/forgot-username=5ms",
            "/health=1ms",
        ] {
            assert!(value.parse::<InjectedDelay>().is_ok(), "{value}");
        }
    }

    #[test]
    fn rejects_bad_values_naming_them() {
        let cases = [
            ("/v1/sign-in", "no '='"),
            ("v1/sign-in=5ms", "does not start with '/'"),
            ("/v1/sign-in=5", "has no unit"),
            ("/v1/sign-in=fast ms", "is not a number"),
            ("/v1/sign-in=-1ms", "non-negative"),
            ("/v1/sign-in=11s", "longer than the maximum of 10 s"),
            ("/v1/sign-in=1e300s", "longer than the maximum of 10 s"),
            ("/v1/nope=5ms", "not a route of the service"),
            (
                "/v1/flows/{flowid}/answer=5ms",
                "use one of /health, /v1/admin/enrollments",
            ),
            ("/v1/flows//answers=5ms", "not a route of the service"),
            (
                "/v1/flows/{flowid}/answers=5ms",
                "not a route of the service",
            ),
        ];
        for (value, expected) in cases {
            let error = value.parse::<InjectedDelay>().expect_err(value);
            assert!(error.contains(expected), "{value}: {error}");
            assert!(
                error.contains(&format!("{value:?}")),
                "{value} is named: {error}"
            );
        }
    }

    async fn respond_after(router: Router, path: &str) -> Duration {
        let request = Request::post(path).body(Body::empty()).unwrap();
        let started = std::time::Instant::now();
        let response = router.oneshot(request).await.unwrap();
        assert!(response.status().is_success(), "{path} answered");
        started.elapsed()
    }

    // Real time, because tokio's paused clock needs its test-util feature;
    // the margins are wide enough for a busy machine.
    #[tokio::test]
    async fn delays_only_listed_routes() {
        let router = Router::new()
            .route("/v1/flows/{flow_id}/answers", post(|| async {}))
            .route("/v1/flows/{flow_id}/code", post(|| async {}))
            .route("/v1/forgot-username", post(|| async {}));
        let delays = [
            "/v1/flows/{flow_id}/answers=300ms".parse().unwrap(),
            "/v1/forgot-username=200ms".parse().unwrap(),
        ];
        let router = with_injected_delays(router, &delays);

        let pattern = respond_after(router.clone(), "/v1/flows/abc/answers").await;
        let path = respond_after(router.clone(), "/v1/forgot-username").await;
        let other = respond_after(router, "/v1/flows/abc/code").await;

        assert!(
            pattern >= Duration::from_millis(300),
            "route pattern delayed: {pattern:?}"
        );
        assert!(
            path >= Duration::from_millis(200),
            "request path delayed: {path:?}"
        );
        assert!(
            path < Duration::from_millis(300),
            "request path delayed by its own entry: {path:?}"
        );
        assert!(
            other < Duration::from_millis(200),
            "unlisted route not delayed: {other:?}"
        );
    }
}
