//! The JPEG inspector on arbitrary bytes: it never panics, and a comment added with
//! `with_comment` changes neither its verdict nor what it reads from the frame header, and
//! is what `comment` finds.
//!
//! Input: two bytes for the comment's length, the comment, then the data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_media::jpeg::{self, MAX_COMMENT_SEGMENT};

fuzz_target!(|input: &[u8]| {
    let Some((len, rest)) = input.split_at_checked(2) else {
        return;
    };
    let len = usize::from(u16::from_le_bytes([len[0], len[1]])).min(rest.len());
    let (text, data) = rest.split_at(len);

    let verdict = jpeg::inspect(data);
    let _ = jpeg::comment(data);
    if let Ok(info) = verdict {
        assert!(info.width > 0 && info.height > 0 && info.components > 0);
    }

    let stamped = jpeg::with_comment(data, text);
    if data.starts_with(&[0xFF, 0xD8]) {
        let first = &text[..text.len().min(MAX_COMMENT_SEGMENT)];
        assert_eq!(jpeg::comment(&stamped), Some(first));
        match verdict {
            Ok(info) => assert_eq!(jpeg::inspect(&stamped), Ok(info)),
            Err(_) => assert!(jpeg::inspect(&stamped).is_err()),
        }
    } else {
        assert_eq!(stamped, data);
    }
});
