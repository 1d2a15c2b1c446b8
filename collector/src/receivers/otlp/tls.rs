//! TLS for the OTLP receivers (otelcol's `configtls` server shape: `tls: {cert_file,
//! key_file, client_ca_file}`), with rustls on the ring provider; `client_ca_file` requires
//! client certificates signed by that CA (mutual TLS). Handshakes run in their own tasks, so a
//! slow or silent client cannot hold up accepting others.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use super::idle::IdleStream;
use crate::config::ConfigError;

/// `receivers.otlp.protocols.{grpc,http}.tls`, as otelcol's `configtls.ServerConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM file with the server certificate (and its chain).
    pub cert_file: String,
    /// PEM file with the certificate's private key.
    pub key_file: String,
    /// PEM file with the CA(s) that sign client certificates: when set, every client must
    /// present a certificate signed by one of them (mutual TLS, otelcol's `client_ca_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<String>,
}

/// Reads the certificate and key; `path` is the `tls` section's YAML path, `alpn` the
/// application protocols to offer (`h2` for gRPC).
pub fn server_config(
    tls: &TlsServerConfig,
    path: &str,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| {
            ConfigError::at(
                format!("{path}.cert_file"),
                format!("cannot read {}: {err}", tls.cert_file),
            )
        })?;
    if certs.is_empty() {
        return Err(ConfigError::at(
            format!("{path}.cert_file"),
            format!("{} holds no PEM certificate", tls.cert_file),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|err| {
        ConfigError::at(
            format!("{path}.key_file"),
            format!("cannot read {}: {err}", tls.key_file),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| ConfigError::at(path, format!("cannot set up TLS: {err}")))?;
    let builder = match &tls.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(file) => {
            let key = format!("{path}.client_ca_file");
            let cas = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|err| ConfigError::at(&key, format!("cannot read {file}: {err}")))?;
            if cas.is_empty() {
                return Err(ConfigError::at(key, format!("{file} holds no PEM certificate")));
            }
            let mut roots = rustls::RootCertStore::empty();
            for ca in cas {
                roots.add(ca).map_err(|err| {
                    ConfigError::at(&key, format!("{file} holds an unusable CA certificate: {err}"))
                })?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|err| {
                        ConfigError::at(&key, format!("cannot verify clients with {file}: {err}"))
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|err| ConfigError::at(path, format!("invalid certificate or key: {err}")))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A server-side TLS connection over an [`IdleStream`].
pub struct TlsStream(tokio_rustls::server::TlsStream<IdleStream>);

impl AsyncRead for TlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for TlsStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

/// Runs the TLS handshake of every connection `accept` yields, each in its own task,
/// and passes on the ones that complete, until `shutdown` is cancelled or the receiving
/// side is dropped. Failed handshakes are logged and dropped.
fn handshakes<F, Fut>(
    mut accept: F,
    config: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> mpsc::Receiver<(TlsStream, SocketAddr)>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<(IdleStream, SocketAddr)>> + Send,
{
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => break,
                () = tx.closed() => break,
                next = accept() => next,
            };
            let Some((stream, addr)) = next else { break };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let _ = tx.send((TlsStream(tls), addr)).await;
                    }
                    Err(err) => {
                        tracing::debug!(peer = %addr, error = %err, "TLS handshake failed; connection closed.");
                    }
                }
            });
        }
    });
    rx
}

/// The TLS connections of a gRPC listener, as a stream for tonic's `serve_with_incoming`.
pub fn grpc_incoming(
    listener: tokio::net::TcpListener,
    handshake: std::time::Duration,
    config: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> impl futures::Stream<Item = io::Result<TlsStream>> {
    let listener = Arc::new(listener);
    let rx = handshakes(
        move || {
            let listener = Arc::clone(&listener);
            async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, addr)) => {
                            return Some((IdleStream::until_first_byte(stream, handshake), addr));
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "Accepting an OTLP/gRPC connection failed; retrying in a second.");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        },
        config,
        shutdown,
    );
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|(s, _)| (Ok(s), rx)) },
    )
}

/// An axum listener whose connections have completed a TLS handshake.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Wraps `inner`; connections are accepted (and timed out) as `inner` does.
    pub fn new(
        inner: super::idle::IdleListener,
        config: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
    ) -> io::Result<Self> {
        use axum::serve::Listener as _;
        let local = inner.local_addr()?;
        let inner = Arc::new(tokio::sync::Mutex::new(inner));
        let rx = handshakes(
            move || {
                let inner = Arc::clone(&inner);
                async move { Some(inner.lock().await.accept().await) }
            },
            config,
            shutdown,
        );
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(accepted) => accepted,
            // The accept loop stops only at shutdown; axum stops calling accept then.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, cert: &str, key: &str) -> TlsServerConfig {
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        TlsServerConfig {
            cert_file: dir.join("cert.pem").display().to_string(),
            key_file: dir.join("key.pem").display().to_string(),
            client_ca_file: None,
        }
    }

    #[test]
    fn unusable_certificate_files_are_errors_naming_the_path() {
        let path = "receivers.otlp.protocols.http.tls";
        let missing = TlsServerConfig {
            cert_file: "/nonexistent/cert.pem".into(),
            key_file: "/nonexistent/key.pem".into(),
            client_ca_file: None,
        };
        let err = server_config(&missing, path, &[]).unwrap_err();
        assert_eq!(err.path, "receivers.otlp.protocols.http.tls.cert_file");
        assert!(err.message.contains("/nonexistent/cert.pem"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let err = server_config(&config(dir.path(), "not pem\n", ""), path, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "receivers.otlp.protocols.http.tls.cert_file: {} holds no PEM certificate",
                dir.path().join("cert.pem").display()
            )
        );

        // A certificate block that is not DER, and no key.
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = server_config(&config(dir.path(), bogus, "no key here\n"), path, &[]).unwrap_err();
        assert_eq!(err.path, "receivers.otlp.protocols.http.tls.key_file");
    }
}
