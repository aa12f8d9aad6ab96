//! The accept loop: the router served by hyper with the bounds `axum::serve` leaves open. A
//! client gets [`HEADER_READ_SECONDS`] to send a request's headers (a slowloris client that
//! trickles them gets 408 and is disconnected; so is a keep-alive connection idle that
//! long), and at most [`CONNECTIONS_MAX`] connections are open at once (more wait in the
//! listen backlog). Bodies and handlers are bounded by the router's own request timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Seconds a client has to send the headers of a request, from its first byte.
pub const HEADER_READ_SECONDS: u64 = 10;
/// Connections served at once; further clients wait in the listen backlog.
pub const CONNECTIONS_MAX: usize = 4096;
/// Pause after a failed accept (such as running out of file descriptors), so the loop does
/// not spin while the condition lasts.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the connections in flight to finish their requests.
pub(crate) async fn serve_router(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(HEADER_READ_SECONDS));
    let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // never closed; a closed semaphore would end serving
            },
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small writes (SSE events, short pages) go out at once, not after Nagle's delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|req: hyper::Request<Incoming>| req.map(Body::new)),
        );
        let tcp = Arc::new(tcp);
        let conn = builder
            .serve_connection(TokioIo::new(SharedTcp(tcp.clone())), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                if e.downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_timeout)
                {
                    // hyper drops such a client without a word; tell it why. Best effort: the
                    // answer is small enough for the socket buffer, and the client may be gone.
                    let _ = tcp.try_write(&header_timeout_response());
                } else {
                    tracing::debug!("connection ended with an error: {e}");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// What a client that did not finish its headers in time is told before it is disconnected.
fn header_timeout_response() -> Vec<u8> {
    let body = format!(
        r#"{{"type":"about:blank","title":"Request Timeout","status":408,"detail":"the request headers did not arrive within {HEADER_READ_SECONDS} seconds"}}"#
    );
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A TCP stream that hyper serves while the accept loop keeps a handle to it, to answer 408
/// when hyper gives up on the headers. Reads and writes go through the stream's readiness, as
/// tokio's own `TcpStream` does.
struct SharedTcp(Arc<TcpStream>);

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // TCP writes are not buffered here
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Sends FIN, as `TcpStream::poll_shutdown` does; the socket closes when dropped.
        let sock = socket2::SockRef::from(&*self.0);
        Poll::Ready(sock.shutdown(std::net::Shutdown::Write))
    }
}
