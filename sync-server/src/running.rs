//! The server on a thread and runtime of its own, for callers that are plain
//! blocking code: the command line's demo, integration tests and the fault
//! harnesses. They drive the core's blocking sync client, which must never
//! run inside an async runtime, so the server cannot share theirs.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use axum_server::tls_rustls::RustlsConfig;
use tokio::sync::oneshot;

use crate::error::{Result, ServerError};
use crate::{AppState, Config};

/// A running server; stopped gracefully (requests in flight finished, pushes
/// committed) by [`RunningServer::stop`] or when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    https: bool,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl RunningServer {
    /// Opens the storage in `config.data_dir` and serves it on
    /// `config.listen` (port 0: any free port; see [`RunningServer::addr`]),
    /// over HTTPS when the config names a certificate and key (a wrong file
    /// fails here, not at [`RunningServer::stop`]).
    pub fn start(config: Config) -> Result<RunningServer> {
        let listen = config.listen;
        let tls = crate::tls::load(&config)?;
        Self::spawn(listen, tls, move || AppState::open(config))
    }

    /// Serves `state` (a storage of the caller's, e.g. one that injects
    /// faults) on `listen`.
    pub fn with_state(state: AppState, listen: SocketAddr) -> Result<RunningServer> {
        let tls = crate::tls::load(&state.config)?;
        Self::spawn(listen, tls, move || Ok(state))
    }

    fn spawn(
        listen: SocketAddr,
        tls: Option<RustlsConfig>,
        state: impl FnOnce() -> Result<AppState> + Send + 'static,
    ) -> Result<RunningServer> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        // Bound before the thread starts: requests sent before the server
        // accepts wait in the backlog, so callers have nothing to poll for.
        let listener = rt.block_on(tokio::net::TcpListener::bind(listen))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let https = tls.is_some();
        let thread = std::thread::Builder::new()
            .name("carnet-server".into())
            .spawn(move || {
                rt.block_on(async move {
                    let state = tokio::task::spawn_blocking(state)
                        .await
                        .map_err(|e| ServerError::Internal(e.to_string()))??;
                    crate::serve_loaded(listener, state, tls, async {
                        let _ = rx.await;
                    })
                    .await
                })
            })?;
        Ok(RunningServer {
            addr,
            https,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, or `https://ADDR` over TLS (its certificate must then
    /// name the address): what a device's sync client is given.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops it and waits until everything it acknowledged is written; says
    /// why if it had failed.
    pub fn stop(mut self) -> Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Internal("the server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Err(e) = self.halt() {
            tracing::error!(error = %e, "the server stopped with an error");
        }
    }
}
