//! A live node on a thread of its own, reached from other threads through a [`Handle`]: what
//! the conformance suite uses to run a node beside real servers and look into it.
//!
//! The node is built on its thread and never leaves it (it is not `Send`); other threads send it
//! closures, which run between two turns of its loop.

use std::io;
use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Waker;

use super::{Driver, Options};

type Request = Box<dyn FnOnce(&mut Driver) + Send>;

/// How long [`Handle::with`] waits for the node's thread to run a closure. The loop runs a
/// closure within one turn, so only a wedged loop takes this long.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// A running live node. Dropping it stops the node and joins its thread.
pub struct Handle {
    port: u16,
    requests: mpsc::Sender<Request>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// Starts a live node on a new thread; returns once it listens.
pub fn spawn(opts: Options) -> io::Result<Handle> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (requests, inbox) = mpsc::channel::<Request>();
    let thread = std::thread::Builder::new()
        .name("replsim-live".into())
        .spawn(move || {
            let mut d = match Driver::new(opts) {
                Ok(d) => d,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return Ok(());
                }
            };
            let _ = ready_tx.send(Ok((d.port(), d.waker())));
            d.run(&mut |d| loop {
                match inbox.try_recv() {
                    Ok(f) => f(d),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        d.request_stop();
                        break;
                    }
                }
            })
        })?;
    let (port, waker) = ready_rx
        .recv()
        .map_err(|_| io::Error::other("the live node's thread ended before listening"))??;
    Ok(Handle {
        port,
        requests,
        waker,
        thread: Some(thread),
    })
}

impl Handle {
    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `f` on the node's thread, between two turns of its loop, without waiting for it.
    pub fn post(&self, f: impl FnOnce(&mut Driver) + Send + 'static) {
        self.requests
            .send(Box::new(f))
            .expect("the live node's thread has ended");
        self.waker.wake().expect("waking the live node's loop");
    }

    /// Runs `f` on the node's thread, between two turns of its loop, and returns its result.
    /// Whatever `f` makes the node do (a command, a REPLICAOF) is carried out right after.
    pub fn with<R: Send + 'static>(&self, f: impl FnOnce(&mut Driver) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        self.post(move |d: &mut Driver| {
            let _ = tx.send(f(d));
        });
        rx.recv_timeout(ANSWER_TIMEOUT)
            .expect("the live node did not run the request in time")
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.requests.send(Box::new(Driver::request_stop));
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
