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
//!
//! The gRPC server uses [`IdleStream::until_first_byte`]: a connection must start its
//! HTTP/2 handshake within grpc-go's `ConnectionTimeout` (120 s, which the OTel Collector
//! keeps); after that, idle channels are normal for gRPC clients and HTTP/2 keepalive
//! pings find the dead ones.

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
    /// Stop timing once the first byte has been read (handshake timeout only).
    first_byte_only: bool,
}

impl IdleStream {
    /// Wraps `inner`; `None` never times out.
    pub fn new(inner: TcpStream, timeout: Option<Duration>) -> Self {
        let first = timeout.unwrap_or(Duration::from_secs(3600));
        IdleStream {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(first)),
            first_byte_only: false,
        }
    }

    /// Wraps `inner`, failing it only if its first byte does not arrive within `timeout`.
    pub fn until_first_byte(inner: TcpStream, timeout: Duration) -> Self {
        IdleStream {
            first_byte_only: true,
            ..IdleStream::new(inner, Some(timeout))
        }
    }

    /// Bytes were read: the connection is alive.
    fn touch_read(&mut self) {
        if self.first_byte_only {
            self.timeout = None;
        } else {
            self.touch_write();
        }
    }

    /// Bytes were written. In handshake mode this proves nothing about the client (the
    /// HTTP/2 server writes its SETTINGS frame first), so only reads count there.
    fn touch_write(&mut self) {
        if let (Some(timeout), false) = (self.timeout, self.first_byte_only) {
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
                    self.touch_read();
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
                    self.touch_write();
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
                    self.touch_write();
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

impl tonic::transport::server::Connected for IdleStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    /// Regression (issue #12, item 11): a gRPC connection that never starts its
    /// handshake is closed, even though the server writes to it first; one that has
    /// started is never timed out by this wrapper (keepalive pings take over).
    #[tokio::test]
    async fn handshake_timeout_counts_only_the_clients_first_bytes() {
        let handshake = Duration::from_millis(200);

        let (_client, server) = pair().await;
        let mut silent = IdleStream::until_first_byte(server, handshake);
        // The server's own SETTINGS frame does not count as life from the client.
        silent.write_all(b"server settings").await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buf))
            .await
            .expect("a silent connection is failed, not kept");
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);

        let (mut client, server) = pair().await;
        let mut started = IdleStream::until_first_byte(server, handshake);
        client.write_all(b"PRI").await.unwrap();
        assert_eq!(started.read(&mut buf).await.unwrap(), 3);
        // Well past the handshake timeout, an idle but started connection stays open.
        let idle = tokio::time::timeout(handshake * 5, started.read(&mut buf)).await;
        assert!(idle.is_err(), "a started connection was timed out: {idle:?}");
    }

    #[tokio::test]
    async fn inactivity_timeout_is_reset_by_traffic_in_either_direction() {
        let timeout = Duration::from_millis(200);
        let (mut client, server) = pair().await;
        let mut stream = IdleStream::new(server, Some(timeout));
        let mut buf = [0u8; 8];
        client.write_all(b"a").await.unwrap();
        assert_eq!(stream.read(&mut buf).await.unwrap(), 1);
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("a silent connection is failed, not kept");
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }
}
