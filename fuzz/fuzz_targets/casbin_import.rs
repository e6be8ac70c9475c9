//! Casbin policy files: parsing and folding into triple events never panic; a parsed file
//! written back out parses to the same rows.
#![no_main]
use endocarp::cli::casbin_file::{PolicyLine, parse_policy_csv, policy_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = endocarp::cli::import::casbin_envelopes(text, "fuzz", true);
    let _ = endocarp::cli::import::casbin_envelopes(text, "fuzz", false);
    if let Ok(lines) = parse_policy_csv(text) {
        let (mut p, mut g) = (Vec::new(), Vec::new());
        for (_, l) in lines {
            match l {
                PolicyLine::P(r) => p.push(r),
                PolicyLine::G(r) => g.push(r),
            }
        }
        let again: Vec<PolicyLine> = parse_policy_csv(&policy_csv(&p, &g))
            .expect("written files parse")
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let want: Vec<PolicyLine> = p
            .into_iter()
            .map(PolicyLine::P)
            .chain(g.into_iter().map(PolicyLine::G))
            .collect();
        assert_eq!(again, want);
    }
});
