//! Byte plumbing between the proxy and an action process: parameters framed as one stdin line,
//! readers of stdout/stderr and of the result pipe that stop at a size cap, and a non-blocking
//! drain for the output an action wrote just before its result.

use std::os::fd::RawFd;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use wow_protocol::RunRequest;

/// The parameters as one line with its newline. JSON text cannot hold a raw CR or LF inside a
/// string, so every such byte is insignificant whitespace and becomes a space.
pub fn params_line(params: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(params.len() + 1);
    line.extend(
        params
            .bytes()
            .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
    line.push(b'\n');
    line
}

/// The action-loop envelope as one line: `{"value":<params>,"<context key>":"<value>",…}`.
pub fn envelope_line(req: &RunRequest) -> Vec<u8> {
    let params = params_line(req.params.get());
    let mut line = Vec::with_capacity(params.len() + 256);
    line.extend_from_slice(b"{\"value\":");
    line.extend_from_slice(&params[..params.len() - 1]);
    for (key, value) in &req.context {
        line.push(b',');
        serde_json::to_writer(&mut line, key).expect("strings serialise");
        line.push(b':');
        serde_json::to_writer(&mut line, value).expect("strings serialise");
    }
    line.extend_from_slice(b"}\n");
    line
}

/// Writes `data` and closes the pipe. Errors (the action exited without reading) are ignored.
pub async fn write_and_close<W: AsyncWrite + Unpin>(w: Option<W>, data: &[u8]) {
    if let Some(mut w) = w {
        let _ = w.write_all(data).await;
        let _ = w.shutdown().await;
    }
}

/// How a capped read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// End of stream (or a read error, which ends it too).
    Eof,
    /// More than the cap arrived; `buf` holds a little more than the cap.
    Over,
}

/// Appends the stream to `buf` until its end or until `buf` exceeds `cap`.
pub async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: usize, buf: &mut Vec<u8>) -> Capped {
    loop {
        buf.reserve(32 * 1024);
        match r.read_buf(buf).await {
            Ok(0) => return Capped::Eof,
            Ok(_) if buf.len() > cap => return Capped::Over,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Capped::Eof,
        }
    }
}

/// How reading one line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// A full line is in the buffer, without its newline.
    Line,
    /// The stream ended (or failed) before a newline.
    Eof,
    /// The line grew past the cap; the rest of it is unread.
    TooLong,
}

/// Reads one line into `buf` (without the newline), giving up once more than `cap` bytes arrived
/// without a newline. A line whose newline is already buffered is returned whole (at most one
/// reader buffer past the cap), so the caller can reject it and stay in step with the stream.
pub async fn read_line_capped<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> LineEnd {
    loop {
        let available = match r.fill_buf().await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return LineEnd::Eof,
        };
        if available.is_empty() {
            return LineEnd::Eof;
        }
        if let Some(i) = available.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&available[..i]);
            r.consume(i + 1);
            return LineEnd::Line;
        }
        let n = available.len();
        buf.extend_from_slice(available);
        r.consume(n);
        if buf.len() > cap {
            return LineEnd::TooLong;
        }
    }
}

/// Reads what a non-blocking pipe holds right now, up to `limit` bytes in `buf`. Returns true at
/// end of stream. Reads the descriptor directly: the async reader's readiness may lag behind
/// bytes that are already there.
pub fn drain_now(fd: RawFd, buf: &mut Vec<u8>, limit: usize) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < limit {
        // SAFETY: reads into a local buffer of the given length.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        match n {
            0 => return true,
            n if n > 0 => buf.extend_from_slice(&chunk[..n as usize]),
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_become_one_line() {
        assert_eq!(
            params_line("{\n \"a\": \"x\\ny\"\r\n}"),
            b"{  \"a\": \"x\\ny\"  }\n"
        );
    }

    #[test]
    fn envelope_carries_value_and_context() {
        let body = br#"{"value": {"k": [1, 2]}, "activation_id": "a\"1", "deadline": "99"}"#;
        let req = RunRequest::parse(body).unwrap();
        let line = envelope_line(&req);
        assert_eq!(line.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"value": {"k": [1, 2]}, "activation_id": "a\"1", "deadline": "99"})
        );
    }

    #[tokio::test]
    async fn lines_are_capped() {
        let mut r: &[u8] = b"abc\ndefgh\nij";
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 10).await, LineEnd::Line);
        assert_eq!(buf, b"abc");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 3).await, LineEnd::Line);
        assert_eq!(buf, b"defgh");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 10).await, LineEnd::Eof);
        assert_eq!(buf, b"ij");
        let mut r: &[u8] = b"klmnop";
        buf.clear();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 3).await,
            LineEnd::TooLong
        );
    }
}
