//! The real `carnet-server`, run in-process on a free loopback port for the
//! demo: the server's own [`RunningServer`], no second program to start.

use std::net::SocketAddr;
use std::path::Path;

use carnet_server::RunningServer;

use crate::error::{CliError, Result};

/// The demo's server, with the address the printed commands name.
pub struct DemoServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    server: RunningServer,
}

impl DemoServer {
    /// Serves `data_dir` on 127.0.0.1 (any free port), on a thread and
    /// runtime of its own so that the blocking sync clients run on this one.
    pub fn start(data_dir: &Path) -> Result<DemoServer> {
        let server = RunningServer::start(carnet_server::Config {
            data_dir: data_dir.to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Default::default()
        })
        .map_err(|e| CliError::Demo(format!("could not start the server: {e}")))?;
        Ok(DemoServer {
            url: server.url(),
            port: server.addr().port(),
            server,
        })
    }

    /// Stops the server and waits until everything it acknowledged is written.
    pub fn stop(self) -> Result<()> {
        self.server
            .stop()
            .map_err(|e| CliError::Demo(format!("the server failed: {e}")))
    }
}
