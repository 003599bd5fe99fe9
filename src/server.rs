//! Serving an axum router on an already-bound listener, shared by the
//! reference service and the mock providers.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A server running in a background task, stopped by [`RunningServer::stop`].
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Returns the server's base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets open requests finish and waits for the task.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(join_error) => Err(std::io::Error::other(join_error)),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
///
/// Servers take a bound listener so that tests bind port 0 and production binds
/// the configured address with the same code.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Spawns `router` on `listener` in a background task.
pub fn spawn(listener: TcpListener, router: Router) -> std::io::Result<RunningServer> {
    spawn_serving(listener, move |listener, shutdown| {
        serve(listener, router, shutdown)
    })
}

/// Spawns `serve_with` on `listener` in a background task. It receives the
/// listener and a future that completes when [`RunningServer::stop`] is called.
pub fn spawn_serving<F, Fut>(listener: TcpListener, serve_with: F) -> std::io::Result<RunningServer>
where
    F: FnOnce(TcpListener, Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let task = tokio::spawn(serve_with(listener, Box::pin(shutdown)));
    Ok(RunningServer { addr, stop, task })
}

/// Binds an ephemeral port on 127.0.0.1.
pub async fn bind_loopback() -> std::io::Result<TcpListener> {
    TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await
}
