//! Reading request bodies with a limit, the same way in both servers.
//!
//! An oversized body is still read to its end (up to a bound) and thrown away before the 413 is
//! sent: a client that is still sending would otherwise have its connection reset under it and
//! never see the answer. Only a body beyond the bound is cut off, with the connection.

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

use crate::Failure;

/// How a body read failed, and whether the connection can carry another request.
#[derive(Debug)]
pub struct BodyError {
    pub failure: Failure,
    /// The body was not read to its end: answer with `connection: close`.
    pub unread: bool,
}

/// The whole body if it is at most `limit` bytes. Beyond that, reads (and discards) up to
/// `drain` more bytes so the client can finish sending before the 413.
pub async fn read_limited<B>(mut body: B, limit: usize, drain: usize) -> Result<Bytes, BodyError>
where
    B: Body + Unpin,
    B::Error: std::fmt::Display,
{
    // The announced length (within the limit, and at most 8 MiB whatever a client claims) is
    // reserved at once: a large `/init` is then copied once rather than through a series of
    // growing buffers.
    let announced = usize::try_from(body.size_hint().exact().unwrap_or(0)).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(announced.min(limit).min(8 << 20));
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError {
            failure: Failure::BadRequest(format!("Error reading request body: {e}")),
            unread: true,
        })?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let n = bytes::Buf::remaining(&data);
        total = total.saturating_add(n);
        if total <= limit {
            buf.extend_from_slice(&bytes::Buf::copy_to_bytes(&mut data, n));
        } else if total > limit.saturating_add(drain) {
            return Err(too_large(limit, true));
        }
    }
    if total > limit {
        return Err(too_large(limit, false));
    }
    Ok(buf.freeze())
}

fn too_large(limit: usize, unread: bool) -> BodyError {
    BodyError {
        failure: Failure::TooLarge(format!(
            "The request body is over the limit of {limit} bytes."
        )),
        unread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        // A body made of ready frames never waits: polling once per frame is enough.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn within_the_limit_over_it_and_beyond_the_drain() {
        let ok = run(read_limited(Full::new(Bytes::from(vec![1u8; 10])), 10, 5)).unwrap();
        assert_eq!(ok.len(), 10);
        let e = run(read_limited(Full::new(Bytes::from(vec![1u8; 12])), 10, 5)).unwrap_err();
        assert_eq!((e.failure.status(), e.unread), (413, false));
        let e = run(read_limited(Full::new(Bytes::from(vec![1u8; 16])), 10, 5)).unwrap_err();
        assert_eq!((e.failure.status(), e.unread), (413, true));
    }
}
