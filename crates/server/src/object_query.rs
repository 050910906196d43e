//! Turning a question such as "where did I leave my phone" into COCO labels to search for,
//! and into the account's taught objects ("where are my keys" once "my keys" was taught).
//!
//! Pure: no I/O, so the word table is tested on its own. Words that are not objects
//! ("where", "my") are skipped; a taught object's name wins over the word table for the words
//! it takes (the user's "phone" is the one they taught); words that name an object the
//! detector cannot see and nobody taught ("keys") are reported back so the caller can say so.

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
    /// Taught objects the question names, as indexes into the names given to
    /// [`parse_with_taught`], deduplicated, in the order first asked.
    pub taught: Vec<usize>,
    /// Words that looked like objects the detector does not know.
    pub unknown: Vec<String>,
}

/// The words of a question or name: lower case, split at anything but letters, digits and
/// apostrophes.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A taught object's name as compared (two names with the same key are one name): its
/// words, lower case, joined by single spaces. Empty when the name has no word at all.
pub fn name_key(name: &str) -> String {
    words(name).join(" ")
}

/// A word with a plain English plural folded away ("keys" → "key"), so "my key" finds what
/// was taught as "my keys". Short words and "-ss" words are kept ("bus", "glass").
fn fold(word: &str) -> &str {
    match word.strip_suffix('s') {
        Some(stem) if word.len() > 3 && !stem.ends_with('s') => stem,
        _ => word,
    }
}

/// What a question must contain to name a taught object: the name's words without the
/// stop words ("my keys" → "key"), plurals folded. Empty for a name of stop words only.
fn taught_phrase(name: &str) -> Vec<String> {
    words(name)
        .iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .map(|w| fold(w).to_owned())
        .collect()
}

/// Whether a question can name a taught object called `name`: it has a word besides the
/// ones every question is full of ("my", "the", "where").
pub fn is_searchable_name(name: &str) -> bool {
    !taught_phrase(name).is_empty()
}

/// Reads a free-text question. `known_labels` are the detector's classes: a word equal to
/// one of them is taken as is, even without a synonym entry.
pub fn parse(question: &str, known_labels: &[String]) -> ObjectQuery {
    parse_with_taught(question, known_labels, &[])
}

/// Reads a free-text question that may also name the account's taught objects (`taught`,
/// their names). A taught name is found when the question holds its words, stop words
/// aside, one after another ("where are my keys", "keys" and "my key" all name "my keys");
/// longer names are tried first, and the words a name takes are not looked up again.
pub fn parse_with_taught(
    question: &str,
    known_labels: &[String],
    taught: &[String],
) -> ObjectQuery {
    let words = words(question);
    let mut query = ObjectQuery::default();
    let mut taken = vec![false; words.len()];
    find_taught(&words, taught, &mut taken, &mut query);
    let mut seen = BTreeSet::new();
    let mut push = |label: &str, query: &mut ObjectQuery| {
        if seen.insert(label.to_owned()) {
            query.labels.push(label.to_owned());
        }
    };
    let mut i = 0;
    while i < words.len() {
        if taken[i] {
            i += 1;
            continue;
        }
        // Two-word phrases first ("cell phone", "teddy bear", "dining table").
        if let Some(next) = words.get(i + 1).filter(|_| !taken[i + 1]) {
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

/// Marks the words that name taught objects and records which objects they name.
fn find_taught(words: &[String], taught: &[String], taken: &mut [bool], query: &mut ObjectQuery) {
    // Positions of the words that may carry an object, and their folded forms.
    let content: Vec<usize> = (0..words.len())
        .filter(|&i| !STOP_WORDS.contains(&words[i].as_str()))
        .collect();
    let folded: Vec<&str> = content.iter().map(|&i| fold(&words[i])).collect();
    let mut phrases: Vec<(usize, Vec<String>)> = taught
        .iter()
        .enumerate()
        .map(|(index, name)| (index, taught_phrase(name)))
        .filter(|(_, phrase)| !phrase.is_empty())
        .collect();
    // Longest first, so "car keys" wins over "keys" where both fit.
    phrases.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let mut at = 0;
    while at < content.len() {
        let mut width = 0;
        for (index, phrase) in &phrases {
            let len = phrase.len();
            if width > len {
                break;
            }
            let fits = folded
                .get(at..at + len)
                .is_some_and(|here| here.iter().copied().eq(phrase.iter().map(String::as_str)));
            if fits {
                width = len;
                if !query.taught.contains(index) {
                    query.taught.push(*index);
                }
            }
        }
        if width == 0 {
            at += 1;
            continue;
        }
        for &i in &content[at..at + width] {
            taken[i] = true;
        }
        at += width;
    }
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

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn taught_names_are_found_and_no_longer_unknown() {
        let taught = names(&["My Keys", "blue wallet", "car keys"]);
        for question in [
            "where are my keys",
            "keys",
            "my key?",
            "Where did I leave the KEYS",
        ] {
            let q = parse_with_taught(question, &coco(), &taught);
            assert_eq!(q.taught, vec![0], "{question}");
            assert!(q.unknown.is_empty(), "{question}: {:?}", q.unknown);
            assert!(q.labels.is_empty(), "{question}");
        }
        // The longer name wins where it fits; both words are its.
        let q = parse_with_taught("where are the car keys", &coco(), &taught);
        assert_eq!(q.taught, vec![2]);
        assert!(
            q.labels.is_empty(),
            "car is taken by the taught name: {q:?}"
        );
        // A taught name beside a COCO label: both are asked for.
        let q = parse_with_taught("my blue wallet and my phone", &coco(), &taught);
        assert_eq!(q.taught, vec![1]);
        assert_eq!(q.labels, vec!["cell phone"]);
        // Part of a name is not the name; a word nobody taught is still unknown.
        let q = parse_with_taught("where is my wallet and my glasses", &coco(), &taught);
        assert!(q.taught.is_empty());
        assert_eq!(q.unknown, vec!["wallet", "glasses"]);
    }

    #[test]
    fn a_taught_name_wins_over_the_word_table() {
        let q = parse_with_taught("where is my phone", &coco(), &names(&["phone"]));
        assert_eq!(q.taught, vec![0]);
        assert!(q.labels.is_empty());
        // A name of stop words only could never be asked for.
        assert!(!is_searchable_name("my it"));
        assert!(is_searchable_name("my keys"));
        let q = parse_with_taught("show me it", &coco(), &names(&["it"]));
        assert!(q.taught.is_empty());
    }

    #[test]
    fn name_keys_ignore_case_spacing_and_punctuation() {
        assert_eq!(name_key("  My   Keys! "), "my keys");
        assert_eq!(name_key("my keys"), name_key("MY KEYS"));
        assert_eq!(name_key("?!"), "");
        assert_eq!(fold("keys"), "key");
        assert_eq!(fold("glass"), "glass");
        assert_eq!(fold("bus"), "bus");
    }
}
