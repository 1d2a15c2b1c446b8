//! One HTTP/1.1 connection to the receiver, kept alive between requests and opened again
//! after an error: plain TCP for `http://`, rustls for `https://`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The most of a response body read (for the error message of a refused request).
const MAX_RESPONSE_BYTES: usize = 64 << 10;

/// Where requests go, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) uri: Uri,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    server_name: rustls::pki_types::ServerName<'static>,
}

impl Endpoint {
    /// Checks `url` (`http://` or `https://`, with a host). `https://` needs `tls`; a TLS
    /// configuration with `http://` is ignored, as Prometheus and otelcol ignore it.
    pub(crate) fn new(
        url: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        server_name: Option<&str>,
    ) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("");
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            "" => return Err(format!("{url:?} has no scheme; use http:// or https://")),
            other => {
                return Err(format!(
                    "{url:?}: the scheme {other:?} is not supported; use http:// or https://"
                ));
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(default_port);
        let tls = if scheme == "https" {
            let mut config = match tls {
                Some(c) => (*c).clone(),
                None => {
                    return Err(format!(
                        "{url:?} is https:// but no TLS client configuration was given"
                    ));
                }
            };
            // This client speaks HTTP/1.1 only.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(Arc::new(config))
        } else {
            None
        };
        let name = server_name.unwrap_or(&host).to_string();
        let server_name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| format!("{name:?} is not a valid TLS server name: {e}"))?;
        Ok(Endpoint {
            uri,
            host,
            port,
            tls,
            server_name,
        })
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A reply from the receiver.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A connection that reconnects on demand.
pub(crate) struct Connection {
    endpoint: Endpoint,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Connection {
            endpoint,
            sender: None,
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let ep = &self.endpoint;
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", ep.host, ep.port))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &ep.tls {
            None => Box::new(tcp),
            Some(config) => {
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(ep.server_name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}:{}: {e}", ep.host, ep.port))?;
                Box::new(tls)
            }
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake with {}:{}: {e}", ep.host, ep.port))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors show up on the
            // next request.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one POST within `timeout` (connecting included). On any error the
    /// connection is dropped so the next attempt opens a fresh one.
    pub(crate) async fn post(
        &mut self,
        headers: &HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply, String> {
        match tokio::time::timeout(timeout, self.post_inner(headers, body)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("no answer within the timeout ({timeout:?})"))
            }
        }
    }

    async fn post_inner(&mut self, headers: &HeaderMap, body: Bytes) -> Result<Reply, String> {
        let ready = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            self.sender = Some(self.connect().await?);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("no connection".into());
        };
        let ep = &self.endpoint;
        let mut request = Request::post(ep.uri.clone());
        let host = match (ep.uri.port_u16(), ep.uri.host()) {
            (Some(p), Some(h)) => format!("{h}:{p}"),
            (None, Some(h)) => h.to_string(),
            _ => ep.host.clone(),
        };
        if let Some(h) = request.headers_mut() {
            h.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let Ok(v) = http::HeaderValue::from_str(&host) {
                h.insert(http::header::HOST, v);
            }
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("building the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("sending to {}: {e}", ep.uri))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
