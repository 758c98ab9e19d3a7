//! The "run now" signal: a coalescing request flag fed to the core loop as a stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::Stream;
use tokio::sync::Notify;

/// Requests for an immediate cycle. Any number of requests made before the loop reads
/// the stream again yield one item: the flag is the request, the `Notify` only wakes
/// the reader (a stale permit left in it finds the flag clear and is ignored).
#[derive(Debug, Default)]
pub(crate) struct Trigger {
    requested: AtomicBool,
    notify: Notify,
}

impl Trigger {
    /// Asks for one cycle as soon as the loop is free.
    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// One item per batch of coalesced requests; never ends.
    pub(crate) fn stream(self: Arc<Self>) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(self, |trigger| async move {
            loop {
                if trigger.requested.swap(false, Ordering::SeqCst) {
                    return Some(((), trigger));
                }
                trigger.notify.notified().await;
            }
        })
    }
}
