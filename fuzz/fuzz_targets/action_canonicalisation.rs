//! CURIE and IRI canonicalisation: never a panic; a canonical action is an absolute
//! http(s) or urn IRI and a fixed point; the hierarchy is consistent both ways.
#![no_main]
use endocarp::domain::Action;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(a) = Action::parse("action", text) {
        let iri = a.as_str();
        assert!(iri.starts_with("http://") || iri.starts_with("https://") || iri.starts_with("urn:"));
        assert_eq!(Action::parse("action", iri).expect("canonical actions parse"), a);
        for up in a.ancestors() {
            assert!(up.descendants().contains(&a));
        }
    }
});
