//! The real `carnet-server`, run in-process on a free loopback port for the
//! demo: same code as `carnet-server serve`, no second program to start.

use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::{CliError, Result};

/// A running server; stopped (gracefully) when dropped.
pub struct DemoServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::result::Result<(), String>>>,
}

impl DemoServer {
    /// Binds 127.0.0.1:0 and serves `data_dir` on a runtime of its own
    /// thread, so the blocking sync clients can run on this one.
    pub fn start(data_dir: &Path) -> Result<DemoServer> {
        let failed = |e: std::io::Error| CliError::Demo(format!("could not start the server: {e}"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(failed)?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .map_err(failed)?;
        let addr = listener.local_addr().map_err(failed)?;
        let config = carnet_server::Config {
            data_dir: data_dir.to_path_buf(),
            listen: addr,
            ..Default::default()
        };
        let (tx, rx) = oneshot::channel::<()>();
        // The listener is bound already: requests sent before the server
        // accepts wait in the backlog, so there is nothing to poll for.
        let thread = std::thread::Builder::new()
            .name("carnet-demo-server".into())
            .spawn(move || {
                rt.block_on(carnet_server::serve(listener, config, async {
                    let _ = rx.await;
                }))
                .map_err(|e| e.to_string())
            })
            .map_err(failed)?;
        Ok(DemoServer {
            url: format!("http://{addr}"),
            port: addr.port(),
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the server and waits until everything it acknowledged is written.
    pub fn stop(mut self) -> Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(CliError::Demo(format!("the server failed: {e}"))),
            Some(Err(_)) => Err(CliError::Demo("the server stopped unexpectedly".into())),
            _ => Ok(()),
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}
