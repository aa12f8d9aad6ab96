//! What the HTTP tests share: a server run in-process on an ephemeral loopback port.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::SocketAddr;

use annal_http::{AppState, Config, ServeError};

/// A running server; [`Running::stop`] shuts it down and returns how `serve` ended.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: std::thread::JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Stops the server and waits for it; panics if it failed.
    pub fn stop(self) {
        self.stop.send(()).unwrap();
        self.server.join().unwrap().unwrap();
    }
}

/// Serves `state` with `config` on 127.0.0.1, on a runtime of its own thread.
pub fn serve(state: AppState, config: Config) -> Running {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(annal_http::serve(
            "127.0.0.1:0".parse().unwrap(),
            state,
            &config,
            async {
                let _ = stop_rx.await;
            },
            move |addr| addr_tx.send(addr).unwrap(),
        ))
    });
    let addr = addr_rx.recv().unwrap();
    Running { addr, stop, server }
}
