//! A channel for one value whose receiving end is a future: how a `map_async` callback hands
//! its result to the code awaiting it, natively and in a browser alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    sender_gone: bool,
    waker: Option<Waker>,
}

/// The sending end: [`Sender::send`] once; dropping it unsent ends the wait with `None`.
pub(crate) struct Sender<T>(Arc<Mutex<Slot<T>>>);

/// The receiving end: a future of the value sent, or `None` if the sender was dropped unsent.
pub(crate) struct Receiver<T>(Arc<Mutex<Slot<T>>>);

/// A connected sender and receiver.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        sender_gone: false,
        waker: None,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    /// Hands `value` to the receiver and wakes whoever awaits it.
    pub(crate) fn send(self, value: T) {
        self.0.lock().unwrap().value = Some(value);
        // Drop wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.0.lock().unwrap();
            slot.sender_gone = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.0.lock().unwrap();
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Some(value));
        }
        if slot.sender_gone {
            return Poll::Ready(None);
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_value_arrives() {
        let (tx, rx) = channel();
        tx.send(7);
        assert_eq!(pollster::block_on(rx), Some(7));
    }

    #[test]
    fn a_value_sent_from_another_thread_wakes_the_waiter() {
        let (tx, rx) = channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.send("mapped");
        });
        assert_eq!(pollster::block_on(rx), Some("mapped"));
        sender.join().unwrap();
    }

    #[test]
    fn a_dropped_sender_ends_the_wait() {
        let (tx, rx) = channel::<u8>();
        drop(tx);
        assert_eq!(pollster::block_on(rx), None);
    }
}
