//! What a connection sends, when, and in how many writes.

use super::*;
use std::future::poll_fn;
use std::sync::Mutex;

/// Records each write it is given, whole.
#[derive(Clone, Default)]
struct Recorder {
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
    shut: Arc<AtomicBool>,
}

impl Recorder {
    fn writes(&self) -> Vec<Vec<u8>> {
        self.writes.lock().unwrap().clone()
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.writes.lock().unwrap().push(buf.to_vec());
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut.store(true, Ordering::Release);
        Poll::Ready(Ok(()))
    }
}

/// Writes `bytes` and asks for a flush; whether the flush finished.
fn write_and_flush(c: &mut Coalesced<Recorder>, cx: &mut Context<'_>, bytes: &[u8]) -> bool {
    assert!(matches!(Pin::new(&mut *c).poll_write(cx, bytes), Poll::Ready(Ok(n)) if n == bytes.len()));
    Pin::new(&mut *c).poll_flush(cx).is_ready()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

#[test]
fn a_busy_connection_sends_its_responses_together_once_the_worker_has_nothing_else() {
    let out = Recorder::default();
    let mut c = Coalesced::new(out.clone(), 16);
    let mut step = 0;
    runtime().block_on(poll_fn(|cx| {
        step += 1;
        if step == 1 {
            // The first flush after an idle moment goes out at once.
            assert!(write_and_flush(&mut c, cx, b"one"));
            assert_eq!(out.writes(), [b"one".to_vec()]);
            // Busy since: the next ones wait, in order.
            assert!(!write_and_flush(&mut c, cx, b"two"));
            assert!(!write_and_flush(&mut c, cx, b"three"));
            assert_eq!(out.writes().len(), 1, "held while the worker is busy");
            // The runtime wakes the deferral when it would park.
            return Poll::Pending;
        }
        assert!(Pin::new(&mut c).poll_flush(cx).is_ready());
        Poll::Ready(())
    }));
    assert_eq!(step, 2, "woken by the deferral");
    assert_eq!(
        out.writes(),
        [b"one".to_vec(), b"twothree".to_vec()],
        "one write for both"
    );
}

#[test]
fn a_deferral_waits_for_at_most_hold_more_flushes() {
    let out = Recorder::default();
    let mut c = Coalesced::new(out.clone(), 2);
    runtime().block_on(poll_fn(|cx| {
        assert!(write_and_flush(&mut c, cx, b"a"));
        assert!(!write_and_flush(&mut c, cx, b"b"), "deferred");
        assert!(!write_and_flush(&mut c, cx, b"c"), "one more flush");
        assert!(write_and_flush(&mut c, cx, b"d"), "the second more flush sends");
        Poll::Ready(())
    }));
    assert_eq!(out.writes(), [b"a".to_vec(), b"bcd".to_vec()]);
}

#[test]
fn a_worker_that_parked_since_the_last_send_sends_at_once() {
    let out = Recorder::default();
    let mut c = Coalesced::new(out.clone(), 16);
    runtime().block_on(poll_fn(|cx| {
        assert!(write_and_flush(&mut c, cx, b"a"));
        parked();
        assert!(write_and_flush(&mut c, cx, b"b"), "idle since: at once");
        assert!(!write_and_flush(&mut c, cx, b"c"), "busy since: deferred");
        parked();
        // A deferral already begun waits for its own end, not for the next park.
        assert!(!write_and_flush(&mut c, cx, b"d"));
        Poll::Ready(())
    }));
    assert_eq!(out.writes(), [b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn held_bytes_past_the_cap_are_sent_before_more_are_taken() {
    let out = Recorder::default();
    let mut c = Coalesced::new(out.clone(), 1024);
    let big = vec![7u8; MAX_HELD];
    runtime().block_on(poll_fn(|cx| {
        assert!(write_and_flush(&mut c, cx, b"first"));
        assert!(!write_and_flush(&mut c, cx, &big));
        // The cap is reached: the next write sends what is held first.
        assert!(matches!(Pin::new(&mut c).poll_write(cx, b"x"), Poll::Ready(Ok(1))));
        Poll::Ready(())
    }));
    let writes = out.writes();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[1], big);
    // Sent: the burst's buffer is not kept (only the byte written after it).
    assert!(c.held.capacity() <= KEEP, "{} bytes kept", c.held.capacity());
}

#[test]
fn shutdown_sends_what_is_held_first() {
    let out = Recorder::default();
    let mut c = Coalesced::new(out.clone(), 16);
    runtime().block_on(poll_fn(|cx| {
        assert!(write_and_flush(&mut c, cx, b"a"));
        assert!(!write_and_flush(&mut c, cx, b"b"));
        assert!(Pin::new(&mut c).poll_shutdown(cx).is_ready());
        Poll::Ready(())
    }));
    assert_eq!(out.writes(), [b"a".to_vec(), b"b".to_vec()]);
    assert!(out.shut.load(Ordering::Acquire));
}

#[test]
fn with_hold_0_every_write_goes_straight_through() {
    let out = Recorder::default();
    let mut c = Coalesced::new(out.clone(), 0);
    runtime().block_on(poll_fn(|cx| {
        for b in [b"a", b"b", b"c"] {
            assert!(write_and_flush(&mut c, cx, b));
        }
        Poll::Ready(())
    }));
    assert_eq!(out.writes(), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}

#[tokio::test]
async fn bytes_arrive_whole_and_in_order_through_a_real_pipe() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, mut b) = tokio::io::duplex(1 << 20);
    let mut c = Coalesced::new(a, 4);
    let writer = tokio::spawn(async move {
        for i in 0..2_000u32 {
            c.write_all(&i.to_le_bytes()).await.unwrap();
            if i % 3 == 0 {
                c.flush().await.unwrap();
            }
        }
        c.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    let want: Vec<u8> = (0..2_000u32).flat_map(u32::to_le_bytes).collect();
    assert_eq!(got, want);
}
