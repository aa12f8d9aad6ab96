//! Page cursors as clients send them back (`cursor`, `page[after]`, `page[before]`): any
//! text decodes to a cursor or a typed `BadCursor` error, never a panic; a decoded cursor
//! re-encodes to the text it came from, surrounding whitespace aside (one cursor, one
//! spelling), and decodes again to itself.
#![no_main]
use annal_query::{Cursor, QueryError, CURSOR_TEXT_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Cursor::decode(&text) {
        Ok(cursor) => {
            assert!(text.len() <= CURSOR_TEXT_MAX);
            let again = cursor.encode();
            assert_eq!(
                again,
                text.trim(),
                "a cursor decoded from a non-canonical text"
            );
            assert_eq!(Cursor::decode(&again).expect("own text decodes"), cursor);
        }
        Err(e) => assert!(matches!(e, QueryError::BadCursor(_)), "{e:?}"),
    }
});
