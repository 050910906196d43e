//! Why the forwarding unit refused a peer.

/// A refusal, each with what to tell the caller.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The body is not an SDP offer we can read.
    #[error("{0}")]
    BadOffer(String),
    /// The offer lacks the media its role needs.
    #[error("{0}")]
    MissingMedia(String),
    /// The room has its publisher already.
    #[error("this session already has a WebRTC publisher; stop it first (DELETE its resource)")]
    PublisherPresent,
    /// The node serves its maximum of WebRTC peers of this role.
    #[error("this node already serves its maximum of {limit} WebRTC {role}s")]
    Full { role: &'static str, limit: usize },
    /// str0m would not answer the offer.
    #[error("the offer cannot be answered: {0}")]
    Negotiation(String),
    /// The forwarding unit has stopped (the node is shutting down).
    #[error("WebRTC is shutting down on this node")]
    Stopped,
}
