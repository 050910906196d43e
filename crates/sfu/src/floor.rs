//! Talk-back: which viewer the publisher hears. The forwarding unit never decodes audio, so it
//! cannot mix several voices; like a radio channel, one viewer talks at a time. The floor goes
//! to the first viewer whose microphone sends while nobody holds it, and is held while its
//! packets keep coming (a muted browser microphone stops sending). Another viewer's voice is
//! dropped meanwhile.

use std::time::{Duration, Instant};

/// How long the floor stays with a viewer after its last audio packet.
pub const FLOOR_HOLD: Duration = Duration::from_millis(600);

/// The talking viewer of one room.
#[derive(Debug, Clone)]
pub struct Floor<P> {
    holder: Option<(P, Instant)>,
}

impl<P> Default for Floor<P> {
    fn default() -> Self {
        Floor { holder: None }
    }
}

impl<P: Copy + PartialEq> Floor<P> {
    /// Whether `peer`'s audio arriving `now` goes to the publisher; takes a free floor.
    pub fn speak(&mut self, peer: P, now: Instant) -> bool {
        match self.holder {
            Some((holder, last)) if holder != peer && now.duration_since(last) < FLOOR_HOLD => {
                false
            }
            _ => {
                self.holder = Some((peer, now));
                true
            }
        }
    }

    /// The viewer talking `now`, if any.
    pub fn holder(&self, now: Instant) -> Option<P> {
        self.holder
            .filter(|(_, last)| now.duration_since(*last) < FLOOR_HOLD)
            .map(|(p, _)| p)
    }

    /// Frees the floor if `peer` holds it (it left).
    pub fn leave(&mut self, peer: P) {
        if self.holder.is_some_and(|(p, _)| p == peer) {
            self.holder = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_voice_holds_the_floor_until_it_goes_quiet() {
        let t0 = Instant::now();
        let mut floor = Floor::default();
        assert!(floor.speak(1, t0));
        assert!(!floor.speak(2, t0 + Duration::from_millis(100)));
        assert!(floor.speak(1, t0 + Duration::from_millis(500)));
        assert!(!floor.speak(2, t0 + Duration::from_millis(1000)));
        assert_eq!(floor.holder(t0 + Duration::from_millis(1000)), Some(1));
        // Quiet for longer than the hold: the next voice takes it.
        let later = t0 + Duration::from_millis(500) + FLOOR_HOLD;
        assert_eq!(floor.holder(later), None);
        assert!(floor.speak(2, later));
        assert!(!floor.speak(1, later + Duration::from_millis(10)));
    }

    #[test]
    fn leaving_frees_the_floor_at_once() {
        let t0 = Instant::now();
        let mut floor = Floor::default();
        assert!(floor.speak(1, t0));
        floor.leave(2);
        assert!(!floor.speak(2, t0));
        floor.leave(1);
        assert!(floor.speak(2, t0));
    }
}
