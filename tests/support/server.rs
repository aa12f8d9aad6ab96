//! A real `annal serve` child process and a blocking HTTP client, for the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `annal` binary under test: this build's, or `$ANNAL_TEST_BIN` (long soaks and crash
/// loops run against a release build).
pub fn annal_bin() -> String {
    std::env::var("ANNAL_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_annal").to_string())
}

/// `annal serve --data data --listen 127.0.0.1:0 extra…`, not started.
pub fn serve_command(data: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(annal_bin());
    cmd.args([
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
    .args(extra);
    cmd
}

/// A running `annal serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://host:port`.
    pub base: String,
    /// The data directory.
    pub data: PathBuf,
}

impl Server {
    /// Starts `annal serve --data data --listen 127.0.0.1:0 extra…` and waits until it listens.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        let child = serve_command(data, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From here on, Drop kills and reaps the child whatever happens.
        let mut server = Server {
            child,
            base: String::new(),
            data: data.to_path_buf(),
        };
        let mut out = BufReader::new(server.child.stdout.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut line = String::new();
        loop {
            line.clear();
            assert!(Instant::now() < deadline, "server did not start");
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "server exited before listening"
            );
            if let Some(i) = line.find("on http://") {
                let addr: String = line[i + 10..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                // Keep draining stdout so the server never blocks on it.
                std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
                server.base = format!("http://{addr}");
                return server;
            }
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (status, content type, body, Link header) of a request.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub link: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub fn call(method: &str, url: &str, key: Option<&str>, body: Option<(&str, &[u8])>) -> Reply {
    try_call(method, url, key, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// A request whose transport may fail: a server refusing a body by its declared length
/// answers and closes the connection, and a client still sending may see the reset first.
pub fn try_call(
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Result<Reply, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let mut req = agent.request(method, url);
    if let Some(k) = key {
        req = req.set("X-API-Key", k);
    }
    let res = match body {
        Some((ct, b)) => req.set("Content-Type", ct).send_bytes(b),
        None => req.call(),
    };
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    Ok(Reply {
        status: resp.status(),
        content_type: resp.header("content-type").unwrap_or("").to_string(),
        link: resp.header("link").unwrap_or("").to_string(),
        body: resp.into_string().map_err(|e| e.to_string())?,
    })
}
