//! The real PocketSphinx on questions spoken by espeak-ng: what the grammar holds is heard,
//! and changing the phrases changes what can be heard. Nothing is skipped: without
//! espeak-ng, ffmpeg or PocketSphinx these fail and name the packages.

#![allow(clippy::unwrap_used)]

use std::time::Duration;
use switchboard_voice::speech::synthesize;
use switchboard_voice::wav::{self, WavLimits};
use switchboard_voice::{Recognizer, VoiceError, VoicePool, locate_library, locate_model};

fn recognizer() -> Recognizer {
    let model = locate_model(None)
        .unwrap_or_else(|e| panic!("{e}: apt-get install libpocketsphinx3 pocketsphinx-en-us"));
    Recognizer::open(locate_library(None), model, 2).unwrap_or_else(|e| panic!("{e}"))
}

fn samples(text: &str) -> Vec<i16> {
    let recording = synthesize(text, "en-us").unwrap_or_else(|e| panic!("{e}"));
    wav::parse(
        &recording,
        &WavLimits {
            max_duration: Duration::from_secs(10),
        },
    )
    .unwrap()
    .samples
}

fn phrases(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn what_the_grammar_holds_is_heard_and_a_new_list_is_taken_on_the_next_question() {
    let recognizer = recognizer();
    // No phrase yet: nothing to recognize with.
    assert!(matches!(
        recognizer.recognize(&samples("phone")),
        Err(VoiceError::NoGrammar(_))
    ));
    recognizer.set_phrases(phrases(&["phone", "cup", "laptop", "dog", "zorblax"]));
    let grammar = recognizer.grammar().unwrap();
    assert_eq!(grammar.phrases, phrases(&["cup", "dog", "laptop", "phone"]));
    assert_eq!(grammar.left_out.len(), 1);
    assert_eq!(grammar.left_out[0].unknown_words, phrases(&["zorblax"]));

    let umbrella = samples("find my umbrella");
    assert_eq!(
        recognizer
            .recognize(&samples("where is my phone"))
            .unwrap()
            .as_deref(),
        Some("where is my phone")
    );
    let before = recognizer.recognize(&umbrella).unwrap().unwrap_or_default();
    assert!(!before.contains("umbrella"), "{before}");

    // A thing added to the list (as a name someone taught would be) is heard from now on.
    recognizer.set_phrases(phrases(&["phone", "cup", "laptop", "dog", "umbrella"]));
    assert_eq!(
        recognizer.recognize(&umbrella).unwrap().as_deref(),
        Some("find my umbrella")
    );
    // The same recording is heard the same way every time.
    assert_eq!(
        recognizer.recognize(&umbrella).unwrap().as_deref(),
        Some("find my umbrella")
    );
}

#[test]
fn a_library_that_is_missing_says_what_to_install() {
    let model = locate_model(None).unwrap();
    let missing = locate_library(Some(std::path::Path::new(
        "/nonexistent/libpocketsphinx.so.3",
    )));
    match Recognizer::open(missing, model, 1) {
        Err(VoiceError::Unavailable(why)) => {
            assert!(why.contains("libpocketsphinx3 pocketsphinx-en-us"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_pool_refuses_past_its_places_and_frees_them_when_done() {
    let recognizer = recognizer();
    recognizer.set_phrases(phrases(&["phone", "cup"]));
    let pool = VoicePool::new(recognizer, 1);
    let place = pool.try_place().unwrap();
    assert!(matches!(pool.try_place(), Err(VoiceError::Busy)));
    let heard = pool.recognize(place, samples("cup")).await.unwrap();
    assert_eq!(heard.as_deref(), Some("cup"));
    // The place came back with the answer.
    drop(pool.try_place().unwrap());
}
