//! Speech to text, held to a grammar of the phrases that can be asked for. Blocking: call
//! it off the async workers ([`crate::VoicePool`] does).

use crate::error::VoiceError;
use crate::ffi::{Decoder, Sphinx};
use crate::grammar::{self, CARRIERS, Grammar, SEARCH_NAME};
use crate::locate::{INSTALL_HINT, LibraryChoice, ModelChoice};
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

/// A decoder with the grammar generation it was last given.
struct Slot {
    decoder: Decoder,
    generation: Option<u64>,
}

/// The phrases to recognize, and the grammar built from them once a decoder could look
/// their words up.
struct Phrases {
    generation: u64,
    list: Vec<String>,
    built: Option<Arc<Grammar>>,
}

/// Recognizes short spoken questions with PocketSphinx.
///
/// Decoders (about 28 MiB and 0.1 s each to make) are made on first use and kept for the
/// next; the caller bounds how many recognitions run at once, and at most `max_decoders`
/// are kept. Changing the phrases ([`Recognizer::set_phrases`]) costs nothing at once: the
/// grammar is built by the next recognition and each decoder takes it on its next use.
pub struct Recognizer {
    sphinx: Arc<Sphinx>,
    model: ModelChoice,
    library: LibraryChoice,
    phrases: Mutex<Phrases>,
    idle: Mutex<Vec<Slot>>,
    max_decoders: usize,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("library", &self.library)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Recognizer {
    /// Loads the library (cheap: no model is read yet). Fails with what to install when
    /// the library is missing or of another API.
    pub fn open(
        library: LibraryChoice,
        model: ModelChoice,
        max_decoders: usize,
    ) -> Result<Recognizer, VoiceError> {
        let sphinx = Sphinx::open(&library.path).map_err(|e| {
            VoiceError::Unavailable(format!(
                "cannot load PocketSphinx from {} ({e}); install libpocketsphinx3 \
                 pocketsphinx-en-us ({INSTALL_HINT})",
                library.path.display()
            ))
        })?;
        Ok(Recognizer {
            sphinx,
            model,
            library,
            phrases: Mutex::new(Phrases {
                generation: 0,
                list: Vec::new(),
                built: None,
            }),
            idle: Mutex::new(Vec::new()),
            max_decoders: max_decoders.max(1),
        })
    }

    /// The library in use, and how it was found.
    pub fn library(&self) -> &LibraryChoice {
        &self.library
    }

    /// The model in use, and how it was found.
    pub fn model(&self) -> &ModelChoice {
        &self.model
    }

    /// Replaces the phrases that can be recognized (the things one can ask for, as people
    /// say them). The grammar is built from them on the next use.
    pub fn set_phrases(&self, list: Vec<String>) {
        let mut phrases = self.phrases.lock().unwrap_or_else(PoisonError::into_inner);
        phrases.generation += 1;
        phrases.list = list;
        phrases.built = None;
    }

    /// The grammar of the current phrases, built now if it was not yet (this reads the
    /// model when no decoder exists yet).
    pub fn grammar(&self) -> Result<Arc<Grammar>, VoiceError> {
        let mut slot = self.take()?;
        let grammar = self.current_grammar(&mut slot.decoder).map(|(_, g)| g);
        self.give_back(slot);
        grammar
    }

    /// Recognizes one utterance of 16 kHz mono samples: the words heard, `None` when the
    /// grammar matched nothing.
    pub fn recognize(&self, samples: &[i16]) -> Result<Option<String>, VoiceError> {
        let mut slot = self.take()?;
        let (generation, grammar) = self.current_grammar(&mut slot.decoder)?;
        if slot.generation != Some(generation) {
            slot.decoder
                .set_grammar(SEARCH_NAME, &grammar.jsgf)
                .map_err(VoiceError::Failed)?;
            slot.generation = Some(generation);
        }
        // A decoder that failed mid-utterance is dropped, not reused.
        let heard = slot
            .decoder
            .decode(&dithered(samples))
            .map_err(VoiceError::Failed)?;
        self.give_back(slot);
        Ok(heard.map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()))
    }

    fn take(&self) -> Result<Slot, VoiceError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(slot) = idle {
            return Ok(slot);
        }
        let decoder = Decoder::new(&self.sphinx, &self.model.acoustic, &self.model.dictionary)
            .map_err(|e| {
                VoiceError::Unavailable(format!("{e}; reinstall the model ({INSTALL_HINT})"))
            })?;
        tracing::debug!(model = %self.model.folder().display(), "speech decoder loaded");
        Ok(Slot {
            decoder,
            generation: None,
        })
    }

    fn give_back(&self, slot: Slot) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_decoders {
            idle.push(slot);
        }
    }

    /// The grammar of the current phrases and its generation, built with `decoder`'s
    /// dictionary when it was not yet.
    fn current_grammar(&self, decoder: &mut Decoder) -> Result<(u64, Arc<Grammar>), VoiceError> {
        let (generation, list) = {
            let phrases = self.phrases.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(built) = &phrases.built {
                return Ok((phrases.generation, built.clone()));
            }
            (phrases.generation, phrases.list.clone())
        };
        // Built outside the lock: two recognitions racing to build it both succeed.
        let words: BTreeSet<String> = list
            .iter()
            .map(|p| grammar::normalize(p))
            .chain(CARRIERS.iter().map(|c| (*c).to_owned()))
            .flat_map(|p| p.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let known: HashSet<String> = words.into_iter().filter(|w| decoder.knows(w)).collect();
        let built = grammar::build(&list, |w| known.contains(w)).ok_or_else(|| {
            VoiceError::NoGrammar(if list.is_empty() {
                "no phrase was given".to_owned()
            } else {
                "none of the phrases has only words the dictionary knows".to_owned()
            })
        })?;
        for left in &built.left_out {
            tracing::warn!(
                phrase = %left.phrase,
                unknown_words = ?left.unknown_words,
                "left out of the speech grammar: the pronunciation dictionary lacks its words"
            );
        }
        tracing::info!(
            phrases = built.phrases.len(),
            left_out = built.left_out.len(),
            "speech grammar built"
        );
        let built = Arc::new(built);
        let mut phrases = self.phrases.lock().unwrap_or_else(PoisonError::into_inner);
        if phrases.generation == generation {
            phrases.built = Some(built.clone());
        }
        Ok((generation, built))
    }
}

/// `samples` with ±1 of deterministic noise added. Recordings with stretches of exact
/// zeros (synthesized speech, gated microphones) throw PocketSphinx's features off (the
/// log of zero energy); PocketSphinx's own `-dither` would fix that too but draws from one
/// random stream per decoder, so the same recording could be heard differently on two
/// decoders. Measured on synthesized questions, it makes recognition right markedly more
/// often.
pub fn dithered(samples: &[i16]) -> Vec<i16> {
    let mut state: u32 = 0x2545_F491;
    samples
        .iter()
        .map(|s| {
            // xorshift32: cheap and the same for every call.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = match state % 3 {
                0 => -1,
                1 => 0,
                _ => 1,
            };
            s.saturating_add(noise)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dither_is_tiny_the_same_every_time_and_never_wraps() {
        let samples = vec![0i16; 1000];
        let a = dithered(&samples);
        assert_eq!(a, dithered(&samples));
        assert!(a.iter().all(|s| (-1..=1).contains(s)));
        assert!(a.iter().any(|s| *s != 0));
        let extremes = dithered(&[i16::MAX, i16::MIN, i16::MAX, i16::MIN]);
        assert!(extremes.iter().all(|s| s.unsigned_abs() >= 32_766));
    }
}
