//! The generated organisation's promises: the gaps its names land in, its shapes.

use super::*;

#[test]
fn one_gap_names_land_in_one_gap_as_described() {
    for near in [target_id(1234), agent_id(1234)] {
        let before = if near.starts_with("doc") {
            target_id(1233)
        } else {
            agent_id(1233)
        };
        for gap in [Gap::Run, Gap::Meeting, Gap::Converging] {
            let two_sided = gap != Gap::Run;
            let names = one_gap_names(&near, 40, gap);
            assert_eq!(names.len(), 40);
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 40);
            assert!(sorted.iter().all(|n| before < *n && *n < near), "{near}: {sorted:?}");
            for (i, name) in names.iter().enumerate().skip(2) {
                let (lo, hi) = if two_sided {
                    let (a, b) = (&names[i - 2], &names[i - 1]);
                    (a.min(b), a.max(b))
                } else {
                    (&before, &names[i - 1])
                };
                // Between the last two (from both ends), or just below the last (a run).
                assert!(lo < name && name < hi, "{name} not between {lo} and {hi}");
                let later_between = names[..i].iter().filter(|n| lo < *n && *n < name).count();
                assert_eq!(later_between, 0, "{name} is not beside {lo}");
            }
            // Converging, every rising name is a prefix of every falling one; meeting,
            // of none.
            let (rising, falling): (Vec<_>, Vec<_>) = names.iter().enumerate().partition(|(i, _)| i % 2 == 0);
            let prefixes = rising
                .iter()
                .flat_map(|(_, r)| falling.iter().filter(move |(_, f)| f.starts_with(r.as_str())))
                .count();
            match gap {
                Gap::Run => {}
                Gap::Meeting => assert_eq!(prefixes, 0),
                Gap::Converging => assert_eq!(prefixes, 20 * 20),
            }
        }
    }
}

#[test]
fn the_organisation_has_the_stated_shape() {
    let spec = OrgSpec::tiny(1_000);
    let org = Org::generate(spec);
    let count = |ty: &str| org.events.iter().filter(|e| e.event_type == ty).count();
    assert_eq!(count("Agent.RoleAssigned"), spec.agents * spec.roles_per_agent);
    assert_eq!(count("Role.RoleAssigned"), spec.roles - spec.roles_at(0));
    assert_eq!(count("Account.MemberAdded"), spec.accounts * spec.members_per_account);
    assert_eq!(
        count("Policy.PermissionGranted") + count("Policy.ProhibitionSet"),
        1_000
    );
    assert_eq!(org.events.len(), spec.assignments() + spec.rules);
    for e in &org.events {
        for id in [&e.subject, &e.object] {
            assert!(id == "*" || (20..=30).contains(&id.len()), "{id}");
        }
    }
    // Same seed, same organisation.
    assert_eq!(Org::generate(spec).events, org.events);
    let checks = org.checks(1_000, 1);
    assert!(checks.iter().any(|c| c.aim == Aim::Prohibition) && checks.iter().any(|c| c.account.is_some()));
    // The standard spec is the issue's.
    let s = OrgSpec::standard(1_000_000);
    assert_eq!(
        (s.agents, s.roles, s.levels, s.roles_per_agent, s.accounts),
        (100_000, 1_000, 3, 10, 100)
    );
    assert_eq!(s.roles_at(0) + s.roles_at(1) + s.roles_at(2), 1_000);
}

#[test]
fn the_wide_organisation_gives_every_agent_one_role() {
    for spec in [
        OrgSpec::named("wide", 500, true),
        OrgSpec::named("wide", 1_000_000, false),
    ] {
        assert_eq!(spec.roles_per_agent, 1);
        assert!(!spec.power_law);
    }
    assert_eq!(OrgSpec::named("wide", 1_000_000, false).agents, 1_000_000);
    let spec = OrgSpec::named("wide", 500, true);
    let org = Org::generate(spec);
    let mut held = std::collections::HashMap::<&str, usize>::new();
    for e in org.events.iter().filter(|e| e.event_type == "Agent.RoleAssigned") {
        *held.entry(e.subject.as_str()).or_default() += 1;
    }
    assert_eq!(held.len(), spec.agents);
    assert!(held.values().all(|&n| n == 1));
}
