//! Serving one listener within bounds, plain or HTTPS alike: at most `max_connections`
//! connections at once (the next ones wait in the kernel's backlog, holding none of the
//! daemon's file descriptors), a TLS handshake within [`HANDSHAKE_WITHIN`], each request's
//! headers within [`HEADERS_WITHIN`] of the server waiting for them, and no connection kept
//! that moved no byte for [`IDLE_FOR`] (DESIGN.md §5). So no client that reaches a listener
//! can take the sockets the daemon needs for vCD and RabbitMQ.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

/// How long a client has for its TLS handshake (as before these bounds: axum-server's).
pub(super) const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// How long a client has to send a request's headers once the server waits for them: after
/// connecting, and again after each answer on a kept-alive connection (hyper's
/// `header_read_timeout`). A client trickling a header line every few seconds is cut off.
pub(super) const HEADERS_WITHIN: Duration = Duration::from_secs(10);
/// A connection on which no byte moved either way for this long is closed, whatever it waits
/// for (e.g. a client that reads no answer).
pub(super) const IDLE_FOR: Duration = Duration::from_secs(60);
/// How long in-flight requests may take to finish once the daemon stops.
const GRACE: Duration = Duration::from_secs(5);
/// The pause after a failed `accept` (e.g. out of file descriptors), so that a failure does
/// not spin.
const AFTER_ACCEPT_ERROR: Duration = Duration::from_millis(100);

/// One listener's socket, its routes, and how it speaks.
pub(super) struct Listener {
    pub socket: TcpListener,
    pub app: Router,
    /// HTTPS when set.
    pub tls: Option<TlsAcceptor>,
    /// The most connections served at once.
    pub max_connections: usize,
}

/// Serves `listener` until `shutdown`, then lets in-flight requests finish within [`GRACE`].
pub(super) async fn serve(listener: Listener, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(listener.max_connections));
    let connections = TaskTracker::new();
    loop {
        // A permit before `accept`: beyond the cap, clients wait in the backlog, not in here.
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
        };
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.socket.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept an HTTP connection");
                tokio::time::sleep(AFTER_ACCEPT_ERROR).await;
                continue;
            }
        };
        let connection = Connection {
            app: listener.app.clone(),
            peer,
            shutdown: shutdown.clone(),
        };
        let tls = listener.tls.clone();
        connections.spawn(async move {
            connection.run(stream, tls).await;
            drop(permit);
        });
    }
    connections.close();
    let _ = tokio::time::timeout(GRACE, connections.wait()).await;
}

/// One accepted connection.
struct Connection {
    app: Router,
    /// The client's address, which handlers read as `ConnectInfo<SocketAddr>`.
    peer: SocketAddr,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let activity = Arc::new(Activity::new());
        let stream = Watched {
            inner: stream,
            activity: activity.clone(),
        };
        match tls {
            None => self.http(stream, &activity).await,
            Some(acceptor) => {
                // A failed or slow handshake is the client's problem; nothing to log.
                let handshake = tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(stream));
                if let Ok(Ok(stream)) = handshake.await {
                    self.http(stream, &activity).await;
                }
            }
        }
    }

    async fn http<S>(self, stream: S, activity: &Activity)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            app,
            peer,
            shutdown,
        } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().call(request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADERS_WITHIN);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            () = activity.idle_for(IDLE_FOR) => {} // dropping the connection closes it
            () = shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }
}

/// When a connection last moved a byte, in milliseconds since it was accepted.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn moved(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(elapsed, Ordering::Relaxed);
    }

    /// Ready once no byte moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            if last.elapsed() >= limit {
                return;
            }
            tokio::time::sleep_until(last + limit).await;
        }
    }
}

/// A stream that notes in its [`Activity`] every read or write that moved bytes.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.moved();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.moved();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_once_no_byte_moved_for_the_limit() {
        let activity = Activity::new();
        tokio::time::advance(Duration::from_secs(50)).await;
        activity.moved();
        let idle = activity.idle_for(IDLE_FOR);
        tokio::pin!(idle);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(
            futures_lite::future::poll_once(&mut idle).await.is_none(),
            "bytes moved 59 s ago"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(futures_lite::future::poll_once(&mut idle).await.is_some());
    }
}
