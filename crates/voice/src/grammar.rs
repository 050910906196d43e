//! The JSGF grammar recognition is held to: a few ways of asking ("where is my …", "find
//! the …") followed by one of the things that can be searched for, or that thing alone.
//!
//! A free-form language model gets most short questions wrong (it hears "where is my
//! phone" as any of a hundred thousand word sequences); a grammar of the phrases that can be
//! answered gets most of them right. The phrases come from the caller, so the grammar is
//! rebuilt when what can be searched for changes.

use std::collections::BTreeSet;

/// How a question may start. Every word here must be one the search skips as carrying no
/// object ("where", "my", "find", …), so a transcript names only the thing.
pub const CARRIERS: &[&str] = &[
    "where is my",
    "where is the",
    "where is a",
    "where are my",
    "where are the",
    "where did i leave my",
    "where did i leave the",
    "where did i put my",
    "where did i put the",
    "find my",
    "find the",
    "find a",
    "show me",
    "show me my",
    "show me the",
    "have you seen my",
    "have you seen the",
];

/// The grammar's name inside PocketSphinx.
pub const SEARCH_NAME: &str = "question";

/// A grammar built from a list of phrases, and what had to be left out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    /// The grammar in JSGF.
    pub jsgf: String,
    /// The phrases it holds, normalized (lower case, single spaces), sorted.
    pub phrases: Vec<String>,
    /// Phrases left out, each with the words the dictionary does not have.
    pub left_out: Vec<LeftOut>,
}

/// A phrase that is not in the grammar, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The phrase as given.
    pub phrase: String,
    /// Its words that the pronunciation dictionary does not have (or that are not words).
    pub unknown_words: Vec<String>,
}

/// Lower case and single spaces; characters other than letters, digits and apostrophes
/// split words ("Teddy-Bear" is "teddy bear").
pub fn normalize(phrase: &str) -> String {
    phrase
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `word` can stand in a JSGF grammar unquoted: ASCII letters, digits and
/// apostrophes only (the dictionary has no other words anyway).
fn is_plain_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '\'')
}

/// Builds the grammar from `phrases` (the things that can be asked for, as people say
/// them). `knows(word)` says whether the pronunciation dictionary has a word: PocketSphinx
/// refuses a grammar with a word it cannot pronounce, so a phrase with one is left out and
/// reported, and so is a carrier. `None` when no phrase is left.
pub fn build(phrases: &[String], knows: impl Fn(&str) -> bool) -> Option<Grammar> {
    let usable = |phrase: &str| -> Result<(), Vec<String>> {
        let unknown: Vec<String> = phrase
            .split(' ')
            .filter(|w| !w.is_empty())
            .filter(|w| !is_plain_word(w) || !knows(w))
            .map(str::to_owned)
            .collect();
        if unknown.is_empty() && !phrase.is_empty() {
            Ok(())
        } else {
            Err(unknown)
        }
    };
    let mut things = BTreeSet::new();
    let mut left_out = Vec::new();
    for phrase in phrases {
        let normal = normalize(phrase);
        if things.contains(&normal) {
            continue;
        }
        match usable(&normal) {
            Ok(()) => {
                things.insert(normal);
            }
            Err(unknown_words) => {
                if !left_out.iter().any(|l: &LeftOut| &l.phrase == phrase) {
                    left_out.push(LeftOut {
                        phrase: phrase.clone(),
                        unknown_words,
                    });
                }
            }
        }
    }
    if things.is_empty() {
        return None;
    }
    let carriers: Vec<&str> = CARRIERS
        .iter()
        .copied()
        .filter(|c| usable(c).is_ok())
        .collect();
    let things: Vec<String> = things.into_iter().collect();
    let mut jsgf = format!("#JSGF V1.0;\ngrammar {SEARCH_NAME};\n");
    if carriers.is_empty() {
        jsgf.push_str(&format!("public <{SEARCH_NAME}> = <thing>;\n"));
    } else {
        jsgf.push_str(&format!("public <{SEARCH_NAME}> = [<ask>] <thing>;\n"));
        jsgf.push_str(&format!("<ask> = {};\n", carriers.join(" | ")));
    }
    jsgf.push_str(&format!("<thing> = {};\n", things.join(" | ")));
    Some(Grammar {
        jsgf,
        phrases: things,
        left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// A dictionary of the carriers' words and a few things.
    fn knows(word: &str) -> bool {
        let things = ["phone", "cell", "cup", "teddy", "bear", "keys"];
        things.contains(&word) || CARRIERS.iter().any(|c| c.split(' ').any(|w| w == word))
    }

    #[test]
    fn phrases_become_things_after_the_ways_of_asking() {
        let g = build(
            &strings(&["phone", "Cell Phone", "teddy-bear", "cup", "cup"]),
            knows,
        )
        .unwrap();
        assert_eq!(
            g.phrases,
            strings(&["cell phone", "cup", "phone", "teddy bear"])
        );
        assert!(g.left_out.is_empty());
        assert!(g.jsgf.starts_with("#JSGF V1.0;\ngrammar question;\n"));
        assert!(
            g.jsgf.contains("public <question> = [<ask>] <thing>;"),
            "{}",
            g.jsgf
        );
        assert!(
            g.jsgf.contains("<ask> = where is my | where is the |"),
            "{}",
            g.jsgf
        );
        assert!(
            g.jsgf
                .contains("<thing> = cell phone | cup | phone | teddy bear;"),
            "{}",
            g.jsgf
        );
    }

    #[test]
    fn words_the_dictionary_lacks_leave_their_phrase_out() {
        let g = build(
            &strings(&["phone", "zorblax", "hair drier", "r2-d2", "café", ""]),
            knows,
        )
        .unwrap();
        assert_eq!(g.phrases, strings(&["phone"]));
        let out: Vec<(&str, Vec<String>)> = g
            .left_out
            .iter()
            .map(|l| (l.phrase.as_str(), l.unknown_words.clone()))
            .collect();
        assert_eq!(
            out,
            vec![
                ("zorblax", strings(&["zorblax"])),
                ("hair drier", strings(&["hair", "drier"])),
                ("r2-d2", strings(&["r2", "d2"])),
                ("café", strings(&["café"])),
                ("", vec![]),
            ]
        );
    }

    #[test]
    fn without_a_known_thing_there_is_no_grammar_and_without_carriers_things_alone() {
        assert_eq!(build(&strings(&["zorblax"]), knows), None);
        assert_eq!(build(&[], knows), None);
        let g = build(&strings(&["phone"]), |w| w == "phone").unwrap();
        assert_eq!(
            g.jsgf,
            "#JSGF V1.0;\ngrammar question;\npublic <question> = <thing>;\n<thing> = phone;\n"
        );
    }

    #[test]
    fn normalizing_keeps_apostrophes_inside_words() {
        assert_eq!(normalize("  Grandma's   MUG! "), "grandma's mug");
        assert_eq!(normalize("'quoted'"), "quoted");
        assert_eq!(normalize("teddy_bear"), "teddy bear");
    }
}
