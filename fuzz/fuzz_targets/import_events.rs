//! Pericarp event files (newline-delimited JSON envelopes): any input parses or is
//! refused with an error naming its line; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(file) = endocarp::cli::import::parse_file(text) {
            // Every accepted event is in canonical form: parsing it again changes nothing.
            for e in &file.events {
                let again = endocarp::domain::NewEvent::parse(
                    e.id.as_deref().unwrap_or(""),
                    &e.triple,
                    e.timestamp,
                    None,
                    e.metadata.clone(),
                )
                .expect("a canonical event parses again");
                assert_eq!(again.triple, e.triple);
            }
        }
    }
});
