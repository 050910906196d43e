//! Turning a question such as "where did I leave my phone" into COCO labels to search for.
//!
//! Pure: no I/O, so the word table is tested on its own. Words that are not objects
//! ("where", "my") are skipped; words that name an object the detector cannot see ("keys")
//! are reported back so the caller can say so.

use std::collections::BTreeSet;

/// Words (and two-word phrases) that name a COCO class, with the classes they mean.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("phone", &["cell phone"]),
    ("phones", &["cell phone"]),
    ("mobile", &["cell phone"]),
    ("cellphone", &["cell phone"]),
    ("smartphone", &["cell phone"]),
    ("cell phone", &["cell phone"]),
    ("mug", &["cup"]),
    ("mugs", &["cup"]),
    ("cup", &["cup"]),
    ("cups", &["cup"]),
    ("coffee", &["cup"]),
    ("bag", &["backpack", "handbag"]),
    ("bags", &["backpack", "handbag"]),
    ("backpack", &["backpack"]),
    ("handbag", &["handbag"]),
    ("purse", &["handbag"]),
    ("laptop", &["laptop"]),
    ("computer", &["laptop"]),
    ("notebook", &["laptop"]),
    ("car", &["car"]),
    ("cars", &["car"]),
    ("dog", &["dog"]),
    ("dogs", &["dog"]),
    ("puppy", &["dog"]),
    ("cat", &["cat"]),
    ("cats", &["cat"]),
    ("kitten", &["cat"]),
    ("person", &["person"]),
    ("people", &["person"]),
    ("someone", &["person"]),
    ("man", &["person"]),
    ("woman", &["person"]),
    ("bike", &["bicycle"]),
    ("bicycle", &["bicycle"]),
    ("motorbike", &["motorcycle"]),
    ("motorcycle", &["motorcycle"]),
    ("tv", &["tv"]),
    ("television", &["tv"]),
    ("remote", &["remote"]),
    ("bottle", &["bottle"]),
    ("bottles", &["bottle"]),
    ("book", &["book"]),
    ("books", &["book"]),
    ("chair", &["chair"]),
    ("chairs", &["chair"]),
    ("bus", &["bus"]),
    ("truck", &["truck"]),
    ("umbrella", &["umbrella"]),
    ("keyboard", &["keyboard"]),
    ("mouse", &["mouse"]),
    ("scissors", &["scissors"]),
    ("clock", &["clock"]),
    ("couch", &["couch"]),
    ("sofa", &["couch"]),
    ("bed", &["bed"]),
    ("suitcase", &["suitcase"]),
    ("teddy", &["teddy bear"]),
    ("glass", &["wine glass", "cup"]),
];

/// Words that carry no object: skipped quietly.
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "my",
    "our",
    "your",
    "his",
    "her",
    "their",
    "where",
    "is",
    "are",
    "was",
    "were",
    "did",
    "do",
    "does",
    "i",
    "we",
    "you",
    "leave",
    "left",
    "put",
    "find",
    "see",
    "seen",
    "show",
    "me",
    "last",
    "it",
    "its",
    "of",
    "in",
    "on",
    "at",
    "to",
    "what",
    "when",
    "which",
    "any",
    "some",
    "have",
    "has",
    "had",
    "lost",
    "latest",
    "recent",
    "and",
    "or",
    "with",
    "go",
    "went",
    "there",
    "be",
    "been",
    "can",
    "could",
    "please",
    "all",
    "photo",
    "photos",
    "picture",
    "pictures",
    "snapshot",
    "snapshots",
    "camera",
    "cameras",
    "today",
    "yesterday",
];

/// Things people often ask for that the detector cannot see. They are in the speech
/// grammar so that "where are my keys" is heard as asked, and answered as unknown, instead
/// of being misheard as something searchable.
const COMMONLY_LOST: &[&str] = &[
    "keys",
    "key",
    "wallet",
    "glasses",
    "watch",
    "shoes",
    "jacket",
    "charger",
    "headphones",
    "passport",
];

/// Every phrase a spoken question may name a thing by: the words of the synonym table,
/// the detector's classes (`known_labels`), and things often asked for that it cannot
/// see. The speech grammar is built from these; a transcript then goes through [`parse`]
/// like a typed question.
pub fn spoken_phrases(known_labels: &[String]) -> Vec<String> {
    let mut phrases: Vec<String> = SYNONYMS.iter().map(|(w, _)| (*w).to_owned()).collect();
    phrases.extend(known_labels.iter().cloned());
    phrases.extend(COMMONLY_LOST.iter().map(|w| (*w).to_owned()));
    let mut seen = BTreeSet::new();
    phrases.retain(|p| seen.insert(p.clone()));
    phrases
}

/// What a question asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectQuery {
    /// COCO labels to search for, deduplicated, in the order first asked.
    pub labels: Vec<String>,
    /// Words that looked like objects the detector does not know.
    pub unknown: Vec<String>,
}

/// Reads a free-text question. `known_labels` are the detector's classes: a word equal to
/// one of them is taken as is, even without a synonym entry.
pub fn parse(question: &str, known_labels: &[String]) -> ObjectQuery {
    let words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    let mut query = ObjectQuery::default();
    let mut seen = BTreeSet::new();
    let mut push = |label: &str, query: &mut ObjectQuery| {
        if seen.insert(label.to_owned()) {
            query.labels.push(label.to_owned());
        }
    };
    let mut i = 0;
    while i < words.len() {
        // Two-word phrases first ("cell phone", "teddy bear", "dining table").
        if let Some(next) = words.get(i + 1) {
            let pair = format!("{} {next}", words[i]);
            if let Some(labels) = lookup(&pair, known_labels) {
                labels.iter().for_each(|l| push(l, &mut query));
                i += 2;
                continue;
            }
        }
        let word = words[i].as_str();
        if let Some(labels) = lookup(word, known_labels) {
            labels.iter().for_each(|l| push(l, &mut query));
        } else if !STOP_WORDS.contains(&word) && !query.unknown.iter().any(|u| u == word) {
            query.unknown.push(word.to_owned());
        }
        i += 1;
    }
    query
}

fn lookup(word: &str, known_labels: &[String]) -> Option<Vec<String>> {
    if let Some((_, labels)) = SYNONYMS.iter().find(|(w, _)| *w == word) {
        return Some(labels.iter().map(|l| (*l).to_owned()).collect());
    }
    known_labels
        .iter()
        .find(|l| l.as_str() == word)
        .map(|l| vec![l.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coco() -> Vec<String> {
        [
            "person",
            "bicycle",
            "car",
            "cell phone",
            "cup",
            "dining table",
            "bus",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    fn labels(q: &str) -> Vec<String> {
        parse(q, &coco()).labels
    }

    #[test]
    fn questions_become_labels() {
        assert_eq!(labels("where did I leave my phone"), vec!["cell phone"]);
        assert_eq!(labels("Where's my MUG?"), vec!["cup"]);
        assert_eq!(labels("my bag"), vec!["backpack", "handbag"]);
        assert_eq!(labels("people and bikes"), vec!["person"]);
        assert_eq!(labels("cell phone"), vec!["cell phone"]);
        assert_eq!(labels("the dining table"), vec!["dining table"]);
        assert_eq!(labels("where is the bus"), vec!["bus"]);
        assert_eq!(labels("tv or television"), vec!["tv"]);
    }

    #[test]
    fn spoken_phrases_are_every_name_once_and_each_is_understood() {
        let phrases = spoken_phrases(&coco());
        for expected in ["phone", "mug", "cell phone", "dining table", "keys"] {
            assert!(phrases.iter().any(|p| p == expected), "{expected}");
        }
        let unique: BTreeSet<&String> = phrases.iter().collect();
        assert_eq!(unique.len(), phrases.len());
        // Each phrase, heard alone or after a way of asking, is read back as a label or
        // reported as unknown: never dropped as a stop word.
        for phrase in &phrases {
            let q = parse(&format!("where did I leave my {phrase}"), &coco());
            assert!(
                !q.labels.is_empty() || q.unknown.contains(phrase),
                "{phrase}: {q:?}"
            );
        }
    }

    #[test]
    fn unknown_objects_are_reported_and_stop_words_skipped() {
        let q = parse("where did I leave my keys", &coco());
        assert!(q.labels.is_empty());
        assert_eq!(q.unknown, vec!["keys"]);
        let q = parse("phone and keys and keys", &coco());
        assert_eq!(q.labels, vec!["cell phone"]);
        assert_eq!(q.unknown, vec!["keys"]);
        assert_eq!(parse("", &coco()), ObjectQuery::default());
    }
}
