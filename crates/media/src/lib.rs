//! Switchboard media: what the server needs to know about the frames it relays.
//!
//! Devices send JPEG frames, one by one over a WebSocket or as an MJPEG
//! (`multipart/x-mixed-replace`) HTTP body; viewers receive them the same two ways. This
//! crate holds the format knowledge for that, and nothing else:
//!
//! - [`jpeg`]: cheap validation of every incoming frame without decoding it, and COM-segment
//!   stamps for latency measurements;
//! - [`mjpeg`]: an incremental multipart parser for device uploads (ffmpeg's `-f mpjpeg` and
//!   cameras) and a writer for viewers that browsers show without a frame of delay;
//! - [`rate`]: frames per second and bytes per second over a sliding window;
//! - [`synth`]: real JPEG test frames with a moving pattern and the frame number, for
//!   simulators, tests and benchmarks.
//!
//! Architecture invariant: this crate knows nothing of accounts, sessions, HTTP or any async
//! runtime. It works on byte slices and `Bytes`; the only async piece is
//! [`mjpeg::parts`], generic over any `futures::Stream` of `Bytes`.

pub mod jpeg;
pub mod mjpeg;
pub mod rate;
pub mod synth;
