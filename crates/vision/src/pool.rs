//! A bounded pool of detector threads for async callers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::{Analysis, BackendKind, Detection, Detector, VisionError};

type Reply = oneshot::Sender<Result<Analysis, VisionError>>;

/// Work a caller hands in with a picture, run on the same worker right after its detection,
/// with the same bytes: it reports through channels of its own.
pub type AfterDetection = Box<dyn FnOnce(&[u8]) + Send + 'static>;

struct Job {
    jpeg: Bytes,
    reply: Reply,
    then: Option<AfterDetection>,
}

/// Runs detections on dedicated threads, off the async runtime, with a bounded queue.
///
/// Guarantees:
/// - at most `workers` detections run at once, each on its own OS thread (never on a
///   runtime worker), and at most `queue_capacity` more wait;
/// - [`detect`](Self::detect) waits for room in the queue; [`try_detect`](Self::try_detect)
///   fails at once with [`VisionError::Busy`] when it is full, which the server answers with
///   `503` and `Retry-After`;
/// - a job whose caller has gone away (its future dropped) before a worker reaches it is
///   skipped;
/// - a panic inside the detector fails that one job with [`VisionError::Inference`] and the
///   worker carries on;
/// - work given with a picture ([`analyze_then`](Self::analyze_then)) runs on the same
///   worker right after its detection (whether or not that succeeded), so it shares the
///   detection's bound on threads; it is dropped unrun with a job that is skipped or refused,
///   and a panic in it is caught like one in the detector;
/// - dropping the pool lets the workers finish the queued jobs and exit.
pub struct DetectorPool {
    sender: mpsc::Sender<Job>,
    detector: Detector,
    workers: usize,
    queue_capacity: usize,
}

impl std::fmt::Debug for DetectorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorPool")
            .field("detector", &self.detector)
            .field("workers", &self.workers)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

impl DetectorPool {
    /// Starts `workers` threads (at least one) sharing `detector`, with room for
    /// `queue_capacity` waiting jobs (at least one). Size `workers` to the cores, e.g. with
    /// [`available_cores`](crate::available_cores).
    pub fn new(
        detector: Detector,
        workers: usize,
        queue_capacity: usize,
    ) -> Result<DetectorPool, VisionError> {
        let workers = workers.max(1);
        let queue_capacity = queue_capacity.max(1);
        let (sender, receiver) = mpsc::channel::<Job>(queue_capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..workers {
            let receiver = Arc::clone(&receiver);
            let detector = detector.clone();
            std::thread::Builder::new()
                .name(format!("detector-{i}"))
                .spawn(move || work(&detector, &receiver))
                .map_err(VisionError::Spawn)?;
        }
        Ok(DetectorPool {
            sender,
            detector,
            workers,
            queue_capacity,
        })
    }

    /// Detects objects in a JPEG, waiting for room in the queue if it is full.
    pub async fn detect(&self, jpeg: Bytes) -> Result<Vec<Detection>, VisionError> {
        self.analyze(jpeg).await.map(|a| a.detections)
    }

    /// Detects objects in a JPEG, or fails at once with [`VisionError::Busy`] if the queue
    /// is full.
    pub async fn try_detect(&self, jpeg: Bytes) -> Result<Vec<Detection>, VisionError> {
        self.try_analyze(jpeg).await.map(|a| a.detections)
    }

    /// Like [`detect`](Self::detect), with the picture's signature.
    pub async fn analyze(&self, jpeg: Bytes) -> Result<Analysis, VisionError> {
        self.analyze_job(jpeg, None).await
    }

    /// Like [`try_detect`](Self::try_detect), with the picture's signature.
    pub async fn try_analyze(&self, jpeg: Bytes) -> Result<Analysis, VisionError> {
        self.try_analyze_job(jpeg, None).await
    }

    /// Like [`analyze`](Self::analyze), then runs `then` with the picture on the same worker.
    pub async fn analyze_then(
        &self,
        jpeg: Bytes,
        then: AfterDetection,
    ) -> Result<Analysis, VisionError> {
        self.analyze_job(jpeg, Some(then)).await
    }

    /// Like [`try_analyze`](Self::try_analyze), then runs `then` with the picture on the same
    /// worker. A full queue drops `then` unrun.
    pub async fn try_analyze_then(
        &self,
        jpeg: Bytes,
        then: AfterDetection,
    ) -> Result<Analysis, VisionError> {
        self.try_analyze_job(jpeg, Some(then)).await
    }

    async fn analyze_job(
        &self,
        jpeg: Bytes,
        then: Option<AfterDetection>,
    ) -> Result<Analysis, VisionError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { jpeg, reply, then })
            .await
            .map_err(|_| VisionError::Closed)?;
        answer.await.map_err(|_| VisionError::Closed)?
    }

    async fn try_analyze_job(
        &self,
        jpeg: Bytes,
        then: Option<AfterDetection>,
    ) -> Result<Analysis, VisionError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send(Job { jpeg, reply, then })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => VisionError::Busy,
                mpsc::error::TrySendError::Closed(_) => VisionError::Closed,
            })?;
        answer.await.map_err(|_| VisionError::Closed)?
    }

    /// The detector the workers share.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The backend the workers run.
    pub fn backend(&self) -> BackendKind {
        self.detector.backend()
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// How many jobs may wait beyond those running.
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// How many jobs are waiting now (not counting those running).
    pub fn queued(&self) -> usize {
        self.queue_capacity - self.sender.capacity()
    }
}

/// One worker: takes jobs until the pool is dropped and the queue is empty.
fn work(detector: &Detector, receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // One idle worker waits on the channel while holding the lock; the others wait on
        // the lock. Either way each job goes to exactly one worker.
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(Job { jpeg, reply, then }) = job else {
            return;
        };
        if reply.is_closed() {
            continue;
        }
        let result =
            catch_unwind(AssertUnwindSafe(|| detector.analyze(&jpeg))).unwrap_or_else(|_| {
                tracing::error!("the detector panicked");
                Err(VisionError::Inference("the detector panicked".into()))
            });
        // The caller may have gone away meanwhile; nothing to do then.
        let _ = reply.send(result);
        if let Some(then) = then
            && catch_unwind(AssertUnwindSafe(|| then(&jpeg))).is_err()
        {
            tracing::error!("work after a detection panicked");
        }
    }
}
