//! Request collapsing: concurrent misses for one key make one request to the
//! next hop. The first becomes the leader; the others wait until the leader's
//! response is stored (or turns out not storable, or fails) and then look
//! the key up again.

use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// The fetches in flight, by key.
#[derive(Debug, Default)]
pub struct Flights {
    map: Arc<DashMap<Arc<str>, watch::Receiver<()>>>,
}

/// The role a request takes for a key.
pub enum Join {
    /// Fetch it; others wait until this guard drops.
    Leader(FlightGuard),
    /// Wait for the leader, then look up again.
    Follower(watch::Receiver<()>),
}

/// Held by a leader while its fetch may still store; dropping it wakes the
/// followers (stored, abandoned or not storable alike).
#[derive(Debug)]
pub struct FlightGuard {
    key: Arc<str>,
    map: Arc<DashMap<Arc<str>, watch::Receiver<()>>>,
    rx: watch::Receiver<()>,
    _tx: watch::Sender<()>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let rx = &self.rx;
        self.map.remove_if(&self.key, |_, v| v.same_channel(rx));
        // `_tx` drops after this: every follower's `changed()` returns.
    }
}

impl Flights {
    /// Lead the fetch of `key`, or follow the one in flight.
    pub fn join(&self, key: &str) -> Join {
        use dashmap::mapref::entry::Entry;
        let key: Arc<str> = Arc::from(key);
        match self.map.entry(key.clone()) {
            Entry::Occupied(e) => Join::Follower(e.get().clone()),
            Entry::Vacant(e) => {
                let (tx, rx) = watch::channel(());
                e.insert(rx.clone());
                Join::Leader(FlightGuard {
                    key,
                    map: self.map.clone(),
                    rx,
                    _tx: tx,
                })
            }
        }
    }

    /// Fetches in flight (for tests).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no fetch is in flight.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Wait until the leader a follower joined is done.
pub async fn wait(mut rx: watch::Receiver<()>) {
    // Only ever ends with the sender dropped: no value is sent.
    while rx.changed().await.is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_per_key_and_followers_wake_when_it_ends() {
        let f = Flights::default();
        let Join::Leader(guard) = f.join("a") else {
            panic!("first must lead")
        };
        let Join::Follower(rx) = f.join("a") else {
            panic!("second must follow")
        };
        assert!(matches!(f.join("b"), Join::Leader(_)), "other keys lead");
        let waiter = tokio::spawn(wait(rx));
        assert!(!waiter.is_finished());
        drop(guard);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("follower woke")
            .expect("joined");
        assert!(f.is_empty());
        assert!(
            matches!(f.join("a"), Join::Leader(_)),
            "next one leads again"
        );
    }
}
