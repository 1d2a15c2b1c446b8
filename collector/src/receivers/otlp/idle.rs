//! Closing idle and half-open OTLP/HTTP connections.
//!
//! The OTel Collector's `confighttp` server closes a connection that has not sent its
//! request headers within `read_header_timeout` (default 1m) and a keep-alive connection
//! idle for `idle_timeout` (default 1m). axum's server has neither, so a client that
//! connected and went silent (or vanished without a FIN: a half-open connection) held a
//! socket and a task forever, and enough of them exhaust file descriptors.
//!
//! [`IdleListener`] wraps each accepted connection in [`IdleStream`], which fails the
//! connection with `TimedOut` once no byte has been read or written for the timeout:
//! the smaller of the two settings, since both bound a silent connection. Divergence: a
//! client that sends its headers one byte at a time, each within the timeout, is not cut
//! off by `read_header_timeout` as Go's server would (that needs the HTTP parser's
//! cooperation, which axum does not expose); each byte still resets only the inactivity
//! timer, so such a client holds a connection but cannot make one last without sending.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// A TCP stream that fails once it has been silent in both directions for `timeout`.
pub struct IdleStream {
    inner: TcpStream,
    timeout: Option<Duration>,
    deadline: Pin<Box<Sleep>>,
}

impl IdleStream {
    /// Wraps `inner`; `None` never times out.
    pub fn new(inner: TcpStream, timeout: Option<Duration>) -> Self {
        let first = timeout.unwrap_or(Duration::from_secs(3600));
        IdleStream {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(first)),
        }
    }

    fn touch(&mut self) {
        if let Some(timeout) = self.timeout {
            self.deadline.as_mut().reset(Instant::now() + timeout);
        }
    }

    /// Whether the connection has been silent for the timeout; registers the waker.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timeout.is_some() && self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "connection idle for longer than the receiver's read_header_timeout / idle_timeout",
    )
}

impl AsyncRead for IdleStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for IdleStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A listener whose connections are [`IdleStream`]s.
pub struct IdleListener {
    inner: TcpListener,
    timeout: Option<Duration>,
}

impl IdleListener {
    /// Wraps `inner`; connections silent for `timeout` are closed (`None`: never).
    pub fn new(inner: TcpListener, timeout: Option<Duration>) -> Self {
        IdleListener { inner, timeout }
    }
}

impl axum::serve::Listener for IdleListener {
    type Io = IdleStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => return (IdleStream::new(stream, self.timeout), addr),
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin, as
                    // axum's own listener does.
                    tracing::warn!(error = %err, "Accepting an OTLP/HTTP connection failed; retrying in a second.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
