//! Responses written together: an accepted connection whose writes are gathered while its
//! worker thread is busy and sent in one `writev` when the worker runs out of other work.
//!
//! hyper answers each HTTP/2 stream in a task of its own, and tokio runs the connection's
//! task next whenever a stream task wakes it (the worker's "LIFO slot"), so a connection
//! with many calls in flight wrote each response with a system call of its own; the
//! kernel's share of a call was the largest part of it. [`Coalesced`] keeps what the
//! connection writes and, on a flush:
//!
//! - sends at once when its worker has been idle (parked) since the connection last
//!   sent: the first answer of a burst goes out without waiting, so a client that is slow
//!   to read overlaps its work with the server's;
//! - otherwise defers the flush until the worker has run every other ready task (tokio's
//!   `yield_now` deferral, woken when the worker would park), then sends everything
//!   gathered in one system call.
//!
//! A deferred flush is bounded: it is sent once [`MAX_HELD`] bytes are held or the
//! connection has been asked to flush `hold` more times since it deferred (about that many
//! more responses; `--write-batch`, 0: every flush sent at once, as tonic does), and tokio
//! wakes deferred tasks at least every 61 tasks it runs (when it polls for I/O), so a
//! worker that never idles still sends. Nothing is reordered or dropped: bytes go out in the order
//! written, and a shutdown sends what is held first.

use std::cell::Cell;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A deferred flush sends once this many bytes are held.
pub const MAX_HELD: usize = 64 * 1024;

/// A buffer grown past this by a burst is freed once sent, not kept for the next.
pub const KEEP: usize = 16 * 1024;

/// The default for how many more flushes a deferred flush waits at most
/// (`--write-batch`).
pub const DEFAULT_HOLD: u32 = 4;

thread_local! {
    /// How many times this thread's worker has parked (gone idle).
    static PARKS: Cell<u64> = const { Cell::new(0) };
}

/// Counts a park of the calling worker thread (the runtime's `on_thread_park` hook).
pub fn parked() {
    PARKS.with(|p| p.set(p.get().wrapping_add(1)));
}

fn parks() -> u64 {
    PARKS.with(Cell::get)
}

/// The waker a deferred flush registers: notes that the deferral ended, then wakes the
/// connection's task.
struct Deferral {
    ended: AtomicBool,
    task: Waker,
}

impl Wake for Deferral {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ended.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// See the module docs.
pub struct Coalesced<S> {
    inner: S,
    held: Vec<u8>,
    /// How much of `held` is already sent.
    sent: usize,
    deferral: Option<Arc<Deferral>>,
    /// Flushes asked for since the deferral began.
    polls: u32,
    /// How many flushes a deferral waits at most (0: none deferred).
    hold: u32,
    /// The worker's park count when this connection last sent.
    parks_at_send: u64,
}

impl<S> Coalesced<S> {
    /// `inner`, its flushes deferred while its worker is busy for at most `hold` more
    /// flushes (0: never).
    pub fn new(inner: S, hold: u32) -> Self {
        Coalesced {
            inner,
            hold,
            held: Vec::new(),
            sent: 0,
            deferral: None,
            polls: 0,
            parks_at_send: parks().wrapping_sub(1),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> Coalesced<S> {
    /// Sends everything held.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if self.held.capacity() > KEEP {
            // A burst's buffer is not kept by a connection that may now idle for hours.
            self.held = Vec::new();
        } else {
            self.held.clear();
        }
        self.sent = 0;
        self.deferral = None;
        self.polls = 0;
        self.parks_at_send = parks();
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalesced<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesced<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.hold == 0 && self.held.is_empty() {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        }
        if self.held.len() >= MAX_HELD {
            ready!(self.poll_send(cx))?;
        }
        self.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.hold == 0 && self.held.is_empty() {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        if self.held.len() >= MAX_HELD {
            ready!(self.poll_send(cx))?;
        }
        let mut n = 0;
        for b in bufs {
            self.held.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.hold > 0 || self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.sent < this.held.len() {
            let send_now = match &this.deferral {
                None if this.hold == 0 => true,
                None if parks() != this.parks_at_send => true,
                None => {
                    // Busy since the last send: wait until the worker has nothing else.
                    let deferral = Arc::new(Deferral {
                        ended: AtomicBool::new(false),
                        task: cx.waker().clone(),
                    });
                    let waker = Waker::from(deferral.clone());
                    let mut yielding = std::pin::pin!(tokio::task::yield_now());
                    let _ = yielding.as_mut().poll(&mut Context::from_waker(&waker));
                    this.deferral = Some(deferral);
                    this.polls = 0;
                    false
                }
                Some(d) => {
                    this.polls += 1;
                    d.ended.load(Ordering::Acquire) || this.polls >= this.hold || this.held.len() >= MAX_HELD
                }
            };
            if !send_now {
                return Poll::Pending;
            }
            ready!(this.poll_send(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for Coalesced<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests;
