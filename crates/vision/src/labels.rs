//! Class labels: read from a model's metadata, or the COCO-80 list as a fallback.

/// The 80 COCO class names in the order YOLO models trained on COCO use.
///
/// Only used when a model carries no `names` metadata; Ultralytics exports always do.
pub const COCO80: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// The COCO-80 names as owned strings.
pub fn coco80() -> Vec<String> {
    COCO80.iter().map(|s| (*s).to_owned()).collect()
}

/// Parses the `names` metadata property of an Ultralytics ONNX export.
///
/// Ultralytics writes it as a Python dict literal, `{0: 'person', 1: 'bicycle', …}`; keys
/// may come in any order and strings may use either quote and backslash escapes. A JSON
/// object with numeric keys (`{"0": "person"}`) or a JSON list (`["person", …]`) is accepted
/// too. Returns `None` unless the keys are exactly `0..n` and every name is non-empty, so a
/// malformed property falls back to the built-in list instead of mislabelling.
pub fn parse_names(text: &str) -> Option<Vec<String>> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let mut entries: Vec<(usize, String)> = Vec::new();
    match p.next()? {
        b'{' => loop {
            p.ws();
            if p.eat(b'}') {
                break;
            }
            let key = if matches!(p.peek(), Some(b'\'' | b'"')) {
                p.string()?.trim().parse().ok()?
            } else {
                p.integer()?
            };
            p.ws();
            if !p.eat(b':') {
                return None;
            }
            p.ws();
            entries.push((key, p.string()?));
            p.ws();
            if !p.eat(b',') {
                p.ws();
                if !p.eat(b'}') {
                    return None;
                }
                break;
            }
        },
        b'[' => loop {
            p.ws();
            if p.eat(b']') {
                break;
            }
            let name = p.string()?;
            entries.push((entries.len(), name));
            p.ws();
            if !p.eat(b',') {
                p.ws();
                if !p.eat(b']') {
                    return None;
                }
                break;
            }
        },
        _ => return None,
    }
    p.ws();
    if p.peek().is_some() || entries.is_empty() {
        return None;
    }
    let mut names = vec![None; entries.len()];
    for (key, name) in entries {
        let slot = names.get_mut(key)?;
        if slot.is_some() || name.is_empty() {
            return None;
        }
        *slot = Some(name);
    }
    names.into_iter().collect()
}

/// A byte cursor for [`parse_names`]; all multi-byte UTF-8 stays inside strings, which are
/// copied out as byte runs, so slicing on bytes is safe.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn integer(&mut self) -> Option<usize> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        std::str::from_utf8(self.s.get(start..self.i)?)
            .ok()?
            .parse()
            .ok()
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.next()?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        let mut out = Vec::new();
        loop {
            match self.next()? {
                c if c == quote => break,
                b'\\' => match self.next()? {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
        String::from_utf8(out).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ultralytics_python_dict() {
        let names = parse_names("{0: 'person', 1: 'bicycle', 2: 'traffic light'}").unwrap();
        assert_eq!(names, ["person", "bicycle", "traffic light"]);
    }

    #[test]
    fn parses_keys_in_any_order_quotes_and_escapes() {
        let names = parse_names(r#" { 1 : "it's", 0: 'a \'b\'' , } "#).unwrap();
        assert_eq!(names, ["a 'b'", "it's"]);
    }

    #[test]
    fn parses_json_forms() {
        assert_eq!(
            parse_names(r#"{"0": "cat", "1": "dog"}"#).unwrap(),
            ["cat", "dog"]
        );
        assert_eq!(parse_names(r#"["cat", "dog"]"#).unwrap(), ["cat", "dog"]);
    }

    #[test]
    fn rejects_gaps_duplicates_and_garbage() {
        assert_eq!(parse_names("{0: 'a', 2: 'c'}"), None);
        assert_eq!(parse_names("{0: 'a', 0: 'b'}"), None);
        assert_eq!(parse_names("{0: ''}"), None);
        assert_eq!(parse_names("{}"), None);
        assert_eq!(parse_names("{0: 'a'} trailing"), None);
        assert_eq!(parse_names("{0: 'unterminated}"), None);
        assert_eq!(parse_names("person, bicycle"), None);
        assert_eq!(parse_names(""), None);
    }

    #[test]
    fn coco80_has_eighty_distinct_names() {
        let mut names = coco80();
        assert_eq!(names.len(), 80);
        assert_eq!(names[0], "person");
        assert_eq!(names[67], "cell phone");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 80);
    }
}
