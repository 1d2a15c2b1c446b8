//! Request targets as lenient as Go's: raw `"`, `<`, `>` and `#` in a query string.
//!
//! `curl 'http://host/api/v1/query?query={__name__="up"}'` sends the quotes unencoded. Go's
//! `net/http` (and so Prometheus) takes any printable byte in the request target and leaves the
//! query string to `url.ParseQuery`, so Prometheus answers. hyper parses the target into an
//! `http::Uri`, which refuses `"`, `<`, `>` (and splits at `#`) in the query, and answers such a
//! request with an empty 400 before any handler sees it: `{__name__="up"}`, `up{job="api"}` and
//! `a < 1` all failed that way.
//!
//! [`LenientListener`] wraps each accepted connection in [`LenientIo`], which percent-encodes those
//! bytes in the query part of every HTTP/1 request line before hyper reads it; the API decodes
//! the form as before, so the handler sees exactly the bytes the client sent. To find each
//! request line on a keep-alive connection it follows HTTP/1.1 message framing (RFC 9112 §6:
//! `Content-Length` or chunked bodies). Anything it does not recognise (HTTP/2's preface, an
//! upgrade, a malformed header block, a line longer than hyper would take anyway) switches the
//! connection to plain pass-through, leaving hyper's own handling unchanged.
//!
//! Long request targets: Go reads a request line and headers of up to 1 MiB
//! (`http.DefaultMaxHeaderBytes`), so Prometheus answers a GET query of hundreds of kilobytes;
//! hyper's `http::Uri` holds at most 64 KiB and answers 414. A GET to one of the endpoints that
//! take the same form by POST (`/api/v1/query`, `query_range`, `series`, `labels`) whose target is
//! longer than [`LONG_TARGET`] is handed to hyper as that POST: the query string becomes an
//! `application/x-www-form-urlencoded` body, which the handlers read exactly as they read the URL
//! (Go's `ParseForm` merges both). A request line longer than 1 MiB is passed through and hyper
//! refuses it (414), as Go refuses a head past its limit (431). Divergence: hyper takes about
//! 400 KB of headers, so a request with more than that in other header fields gets 431 where Go
//! would take up to 1 MiB.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest request or header line examined; longer ones pass through untouched (hyper refuses a
/// head past about 400 KB itself).
const MAX_LINE: usize = 1 << 20;

/// Targets longer than this, on the endpoints that take forms by POST, are handed to hyper as a
/// POST (see the module documentation); well under hyper's 64 KiB.
pub const LONG_TARGET: usize = 16 << 10;

/// The endpoints whose GET form a POST form can carry.
const FORM_ENDPOINTS: &[&[u8]] = &[
    b"/api/v1/query",
    b"/api/v1/query_range",
    b"/api/v1/series",
    b"/api/v1/labels",
];

/// A listener whose connections get lenient request targets (see the module documentation).
pub struct LenientListener<L>(pub L);

impl<L: axum::serve::Listener> axum::serve::Listener for LenientListener<L> {
    type Io = LenientIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (LenientIo::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Where the reader is in the HTTP/1 byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Collecting a request line (empty lines before it pass as they are).
    RequestLine,
    /// Collecting header lines.
    Headers,
    /// Inside a body of known length: this many bytes left.
    Body(u64),
    /// Collecting a chunk-size line.
    ChunkSize,
    /// Inside a chunk: this many data bytes left, then its CRLF.
    ChunkData(u64),
    /// Collecting the line ending a chunk's data.
    ChunkEnd,
    /// Collecting trailer lines after the last chunk.
    Trailers,
    /// Not following the stream any more: every byte passes as it is.
    Passthrough,
}

/// A connection whose HTTP/1 request lines have `"`, `<`, `>` and `#` in their query strings
/// percent-encoded; writes pass through.
pub struct LenientIo<T> {
    inner: T,
    state: State,
    /// The line being collected.
    line: Vec<u8>,
    /// From the current header block: the body's length, and whether it is chunked.
    content_length: Option<u64>,
    chunked: bool,
    /// A long GET being handed on as a POST: its form, sent as the body after the headers.
    form_body: Option<Vec<u8>>,
    /// Bytes ready for the reader, and how many of them it has taken.
    out: Vec<u8>,
    taken: usize,
    eof: bool,
}

impl<T> LenientIo<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        LenientIo {
            inner,
            state: State::RequestLine,
            line: Vec::new(),
            content_length: None,
            chunked: false,
            form_body: None,
            out: Vec::new(),
            taken: 0,
            eof: false,
        }
    }

    /// Processes bytes read from the connection into `out`.
    fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match self.state {
                State::Passthrough => {
                    self.out.extend_from_slice(input);
                    return;
                }
                State::Body(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    self.out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::RequestLine
                    } else {
                        State::Body(left)
                    };
                }
                State::ChunkData(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    self.out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left)
                    };
                }
                _ => {
                    // A line-based state: collect up to the end of the line.
                    match input.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            self.line.extend_from_slice(&input[..=i]);
                            input = &input[i + 1..];
                            let line = std::mem::take(&mut self.line);
                            self.end_of_line(line);
                        }
                        None => {
                            self.line.extend_from_slice(input);
                            input = &[];
                            if self.line.len() > MAX_LINE {
                                self.give_up();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Stops following the stream: what is held goes out as it is.
    fn give_up(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.out.extend_from_slice(&line);
        self.state = State::Passthrough;
    }

    /// Handles one complete line (with its `\n`) in a line-based state.
    fn end_of_line(&mut self, line: Vec<u8>) {
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        match self.state {
            State::RequestLine => {
                if text.is_empty() {
                    self.out.extend_from_slice(&line);
                    return;
                }
                if text.starts_with(b"PRI * HTTP/2.0") {
                    self.out.extend_from_slice(&line);
                    self.state = State::Passthrough;
                    return;
                }
                let line = lenient_request_line(&line);
                self.form_body = None;
                match long_get_as_post(&line) {
                    Some((post_line, form)) => {
                        self.out.extend_from_slice(&post_line);
                        self.form_body = Some(form);
                    }
                    None => self.out.extend_from_slice(&line),
                }
                self.content_length = None;
                self.chunked = false;
                self.state = State::Headers;
            }
            State::Headers => {
                if self.form_body.is_some() && text.is_empty() {
                    // The end of the head: the form's own headers, then the form.
                    let form = self.form_body.take().unwrap_or_default();
                    self.out.extend_from_slice(
                        format!(
                            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
                            form.len()
                        )
                        .as_bytes(),
                    );
                    self.out.extend_from_slice(&form);
                    if self.chunked || self.content_length.is_some_and(|n| n > 0) {
                        // A GET with a body of its own cannot carry the form too: what follows
                        // is not a request, and hyper refuses it.
                        self.state = State::Passthrough;
                    } else {
                        self.state = State::RequestLine;
                    }
                    return;
                }
                let replaced = self.form_body.is_some()
                    && text.iter().position(|&b| b == b':').is_some_and(|c| {
                        text[..c].eq_ignore_ascii_case(b"content-type")
                            || text[..c].eq_ignore_ascii_case(b"content-length")
                    });
                if !replaced {
                    self.out.extend_from_slice(&line);
                }
                if text.is_empty() {
                    self.state = if self.chunked {
                        State::ChunkSize
                    } else {
                        match self.content_length {
                            Some(0) | None => State::RequestLine,
                            Some(n) => State::Body(n),
                        }
                    };
                    return;
                }
                let Some(colon) = text.iter().position(|&b| b == b':') else {
                    self.state = State::Passthrough;
                    return;
                };
                let name = &text[..colon];
                let value = String::from_utf8_lossy(&text[colon + 1..])
                    .trim()
                    .to_ascii_lowercase();
                if name.eq_ignore_ascii_case(b"content-length") {
                    match value.parse::<u64>() {
                        Ok(n) if self.content_length.is_none_or(|m| m == n) => self.content_length = Some(n),
                        _ => self.state = State::Passthrough,
                    }
                } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                    self.chunked = value.rsplit(',').next().is_some_and(|c| c.trim() == "chunked");
                    if !self.chunked {
                        self.state = State::Passthrough;
                    }
                } else if name.eq_ignore_ascii_case(b"upgrade") {
                    self.state = State::Passthrough;
                }
            }
            State::ChunkSize => {
                self.out.extend_from_slice(&line);
                let size = text.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size).ok().map(str::trim);
                match size.and_then(|s| u64::from_str_radix(s, 16).ok()) {
                    Some(0) => self.state = State::Trailers,
                    Some(n) => self.state = State::ChunkData(n),
                    None => self.state = State::Passthrough,
                }
            }
            State::ChunkEnd => {
                self.out.extend_from_slice(&line);
                self.state = if text.is_empty() {
                    State::ChunkSize
                } else {
                    State::Passthrough
                };
            }
            State::Trailers => {
                self.out.extend_from_slice(&line);
                if text.is_empty() {
                    self.state = State::RequestLine;
                }
            }
            State::Body(_) | State::ChunkData(_) | State::Passthrough => {
                self.out.extend_from_slice(&line);
            }
        }
    }
}

/// For a GET request line to a [`FORM_ENDPOINTS`] path with a target longer than [`LONG_TARGET`]:
/// the same request line as a POST to the path alone, and the query string for its body.
fn long_get_as_post(line: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let rest = line.strip_prefix(b"GET ")?;
    let sp = rest.iter().rposition(|&b| b == b' ')?;
    let (target, version) = (&rest[..sp], &rest[sp..]);
    if target.len() <= LONG_TARGET {
        return None;
    }
    let q = target.iter().position(|&b| b == b'?')?;
    let path = &target[..q];
    if !FORM_ENDPOINTS.contains(&path) {
        return None;
    }
    let mut post = b"POST ".to_vec();
    post.extend_from_slice(path);
    post.extend_from_slice(version);
    Some((post, target[q + 1..].to_vec()))
}

/// A request line with `"`, `<`, `>` and `#` after the target's `?` percent-encoded (the rest is
/// left as it is: the path, the method, the version).
fn lenient_request_line(line: &[u8]) -> Vec<u8> {
    let Some(sp1) = line.iter().position(|&b| b == b' ') else {
        return line.to_vec();
    };
    let Some(sp2) = line.iter().rposition(|&b| b == b' ').filter(|&i| i > sp1) else {
        return line.to_vec();
    };
    let target = &line[sp1 + 1..sp2];
    let Some(q) = target.iter().position(|&b| b == b'?') else {
        return line.to_vec();
    };
    let mut out = Vec::with_capacity(line.len() + 16);
    out.extend_from_slice(&line[..sp1 + 1]);
    out.extend_from_slice(&target[..=q]);
    for &b in &target[q + 1..] {
        match b {
            b'"' | b'<' | b'>' | b'#' => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.extend_from_slice(&line[sp2..]);
    out
}

impl<T: AsyncRead + Unpin> AsyncRead for LenientIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.taken < this.out.len() {
                let n = (this.out.len() - this.taken).min(buf.remaining());
                buf.put_slice(&this.out[this.taken..this.taken + n]);
                this.taken += n;
                if this.taken == this.out.len() {
                    this.out.clear();
                    this.taken = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let got = rb.filled();
            if got.is_empty() {
                // The peer closed: whatever was held goes out for hyper to judge.
                this.eof = true;
                let line = std::mem::take(&mut this.line);
                this.out.extend_from_slice(&line);
            } else {
                this.feed(got);
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LenientIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `piece` bytes and returns what the reader gets.
    fn through(input: &[u8], piece: usize) -> Vec<u8> {
        let mut io = LenientIo::new(());
        for chunk in input.chunks(piece.max(1)) {
            io.feed(chunk);
        }
        io.out.extend_from_slice(&std::mem::take(&mut io.line));
        io.out
    }

    #[test]
    fn quotes_and_angle_brackets_in_the_query_are_encoded() {
        let got = through(
            b"GET /api/v1/query?query={__name__=\"up\"}<>#&time=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            5,
        );
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "GET /api/v1/query?query={__name__=%22up%22}%3C%3E%23&time=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        );
    }

    /// Keep-alive: the second request line is found after a sized body and after a chunked one,
    /// and body bytes that look like request lines are not touched.
    #[test]
    fn request_lines_after_bodies_are_found_and_bodies_are_left_alone() {
        let input = b"POST /w?a=\" HTTP/1.1\r\nContent-Length: 9\r\n\r\nGET /?x=\"\n\
GET /q?b=\" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext\r\n\"\"\"\"\r\n0\r\nT: \"\r\n\r\n\
GET /r?c=< HTTP/1.1\r\n\r\n";
        let want = b"POST /w?a=%22 HTTP/1.1\r\nContent-Length: 9\r\n\r\nGET /?x=\"\n\
GET /q?b=%22 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext\r\n\"\"\"\"\r\n0\r\nT: \"\r\n\r\n\
GET /r?c=%3C HTTP/1.1\r\n\r\n";
        for piece in [1, 3, 7, 64, 4096] {
            assert_eq!(through(input, piece), want.to_vec(), "piece {piece}");
        }
    }

    /// Regression: a GET query with a target over 64 KiB got 414 from hyper where Prometheus
    /// (Go, 1 MiB of head) answers it; it reaches hyper as a POST of the same form.
    #[test]
    fn long_get_queries_become_posts_of_the_same_form() {
        let query = format!("query=vector(1)%20%23{}&time=1", "x".repeat(200 << 10));
        let req = format!(
            "GET /api/v1/query?{query} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /-/ready HTTP/1.1\r\n\r\n"
        );
        let got = through(req.as_bytes(), 7000);
        let want = format!(
            "POST /api/v1/query HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{query}GET /-/ready HTTP/1.1\r\n\r\n",
            query.len()
        );
        assert!(got == want.as_bytes(), "{}", String::from_utf8_lossy(&got[..200]));
        // Short targets, other endpoints and other methods are left alone.
        for req in [
            "GET /api/v1/query?query=up HTTP/1.1\r\n\r\n".to_string(),
            format!(
                "GET /api/v1/label/a/values?match[]={} HTTP/1.1\r\n\r\n",
                "x".repeat(20 << 10)
            ),
            format!(
                "DELETE /api/v1/query?query={} HTTP/1.1\r\n\r\n",
                "x".repeat(20 << 10)
            ),
        ] {
            assert_eq!(through(req.as_bytes(), 999), req.as_bytes());
        }
    }

    #[test]
    fn http2_and_unknown_framing_pass_through() {
        let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\"?\"";
        assert_eq!(through(h2, 4), h2.to_vec());
        let odd = b"POST /?a=\" HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET /?b=\" HTTP/1.1\r\n\r\n";
        let got = through(odd, 4);
        assert!(got.starts_with(b"POST /?a=%22 HTTP/1.1"), "{got:?}");
        assert!(got.ends_with(b"GET /?b=\" HTTP/1.1\r\n\r\n"), "{got:?}");
    }
}
