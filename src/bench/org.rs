//! A generated organisation, the same for every run with the same spec and seed.
//!
//! Agents hold `roles_per_agent` roles drawn from a hierarchy `levels` deep (each role below
//! the top inherits one role of the level above through `Role.RoleAssigned`); accounts
//! have members with an account role; rules mix permissions and prohibitions on specific
//! targets and on `*`, with leaf actions and their ODRL parent `odrl:use`. Identifiers are
//! 20–30 bytes, like real ones (`agent:0001234@corp.example`; agents and documents are
//! written `type:id`, so the AuthZEN API addresses them as `{"type": "agent", "id": …}`).
//!
//! The check mix aims a share of checks at rules that exist (so that allows and
//! prohibitions are exercised, not only misses): see [`Org::checks`].

use crate::domain::event::Triple;

/// The size and shape of an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgSpec {
    pub agents: usize,
    pub roles: usize,
    /// Depth of the role hierarchy.
    pub levels: usize,
    pub roles_per_agent: usize,
    pub accounts: usize,
    pub members_per_account: usize,
    pub rules: usize,
    pub seed: u64,
    /// Most parents a role below the top has (each has 1..=this many; 1 in the standard
    /// organisation).
    pub max_parents: usize,
    /// Roles per agent follow a power law (Pareto, α = 1.5, at least 2, at most 60) with
    /// `roles_per_agent` ignored, instead of exactly `roles_per_agent`.
    pub power_law: bool,
    /// Groups: each agent joins 0–2 of them (`Agent.GroupMembershipAdded`), and rules are
    /// assigned to groups as to roles.
    pub groups: usize,
    /// Account sizes follow Zipf's law (the first account is the largest) instead of all
    /// being `members_per_account`; the total is the same.
    pub skewed_accounts: bool,
}

impl OrgSpec {
    /// The organisation of issue #7: 100k agents, 1k roles three levels deep, 10 roles per
    /// agent, 100 accounts (100 members each), and `rules` rules.
    pub fn standard(rules: usize) -> OrgSpec {
        OrgSpec {
            agents: 100_000,
            roles: 1_000,
            levels: 3,
            roles_per_agent: 10,
            accounts: 100,
            members_per_account: 100,
            rules,
            seed: 7,
            max_parents: 1,
            power_law: false,
            groups: 0,
            skewed_accounts: false,
        }
    }

    /// The second shape of issue #14: 100k agents, 1k roles five levels deep where a role
    /// has one to three parents, roles per agent following a power law (some agents hold
    /// dozens), 300 groups, and 200 accounts whose sizes follow Zipf's law (the largest has
    /// thousands of members, most have a handful).
    pub fn deep(rules: usize) -> OrgSpec {
        OrgSpec {
            agents: 100_000,
            roles: 1_000,
            levels: 5,
            roles_per_agent: 0,
            accounts: 200,
            members_per_account: 100,
            rules,
            seed: 11,
            max_parents: 3,
            power_law: true,
            groups: 300,
            skewed_accounts: true,
        }
    }

    /// A third shape, for memory: a million agents holding one role each (a consumer
    /// service's users), 1k roles three levels deep, 100 accounts of 100 members. Every
    /// assignment brings a node of its own, so what a node costs shows in bytes per row.
    pub fn wide(rules: usize) -> OrgSpec {
        OrgSpec {
            agents: 1_000_000,
            roles_per_agent: 1,
            seed: 13,
            ..OrgSpec::standard(rules)
        }
    }

    /// A small organisation of the same shape as `wide`.
    pub fn tiny_wide(rules: usize) -> OrgSpec {
        OrgSpec {
            agents: 2_000,
            roles_per_agent: 1,
            seed: 13,
            ..OrgSpec::tiny(rules)
        }
    }

    /// A small organisation of the same shape as `deep`.
    pub fn tiny_deep(rules: usize) -> OrgSpec {
        OrgSpec {
            agents: 500,
            roles: 60,
            accounts: 10,
            members_per_account: 20,
            groups: 20,
            ..OrgSpec::deep(rules)
        }
    }

    /// The shape a benchmark names (`deep`, `wide`, else `standard`) at `rules` rules; `tiny`: the
    /// small organisation of that shape.
    pub fn named(shape: &str, rules: usize, tiny: bool) -> OrgSpec {
        match (shape, tiny) {
            ("deep", true) => OrgSpec::tiny_deep(rules),
            ("deep", false) => OrgSpec::deep(rules),
            ("wide", true) => OrgSpec::tiny_wide(rules),
            ("wide", false) => OrgSpec::wide(rules),
            (_, true) => OrgSpec::tiny(rules),
            _ => OrgSpec::standard(rules),
        }
    }

    /// A small organisation of the same shape (CI's tiny runs).
    pub fn tiny(rules: usize) -> OrgSpec {
        OrgSpec {
            agents: 500,
            roles: 60,
            levels: 3,
            roles_per_agent: 10,
            accounts: 10,
            members_per_account: 20,
            rules,
            seed: 7,
            max_parents: 1,
            power_law: false,
            groups: 0,
            skewed_accounts: false,
        }
    }

    /// Assignments of the standard shape: agent roles, role-to-role edges and account
    /// memberships (the other shapes draw theirs: see [`Org::assignments`]).
    pub fn assignments(&self) -> usize {
        self.agents * self.roles_per_agent + self.roles_below_top() + self.accounts * self.members_per_account
    }

    fn roles_below_top(&self) -> usize {
        self.roles - self.roles_at(0)
    }

    /// Roles at each level: a tenth at the top, three tenths in the middle, the rest below.
    fn roles_at(&self, level: usize) -> usize {
        let top = (self.roles / 10).max(1);
        match (self.levels, level) {
            (1, _) => self.roles,
            (_, 0) => top,
            (2, _) => self.roles - top,
            (_, l) if l + 1 == self.levels => self.roles - top - self.middle(),
            _ => self.middle() / (self.levels - 2).max(1),
        }
    }

    fn middle(&self) -> usize {
        if self.levels > 2 {
            (self.roles * 3 / 10).max(self.levels - 2)
        } else {
            0
        }
    }
}

/// What a check was aimed at (the engine decides; this is only how it was chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim {
    /// A holder of a permitted role, on that permission's action and target.
    Permission,
    /// A holder of a prohibited role, on the prohibition's action and target.
    Prohibition,
    /// A random agent, action and target.
    Random,
}

/// One check of the mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCase {
    pub agent: String,
    pub account: Option<String>,
    pub action: &'static str,
    pub target: String,
    pub aim: Aim,
}

/// Leaf actions with `odrl:use` as their parent (`odrl:use` itself is granted too).
const LEAF_ACTIONS: [&str; 6] = [
    "odrl:read",
    "odrl:modify",
    "odrl:delete",
    "odrl:display",
    "odrl:print",
    "odrl:play",
];

/// A generated organisation: its events in log order, and what checks can aim at.
pub struct Org {
    pub spec: OrgSpec,
    /// Role hierarchy, agent roles, memberships, then rules.
    pub events: Vec<Triple>,
    /// Agents holding each role directly (index: role number).
    holders: Vec<Vec<u32>>,
    /// Agents in each group.
    group_holders: Vec<Vec<u32>>,
    /// Account of each agent that is a member somewhere.
    account_of: Vec<Option<u32>>,
    /// (assignee, action, target, prohibition) of rules with a specific target.
    rules: Vec<(Assignee, &'static str, u32, bool)>,
    targets: usize,
}

#[derive(Debug, Clone, Copy)]
enum Assignee {
    Role(u32),
    Group(u32),
    Agent(u32),
}

/// splitmix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

pub fn agent_id(n: usize) -> String {
    format!("agent:{n:07}@corp.example")
}

pub fn role_id(level: usize, n: usize) -> String {
    format!("role-l{level}-{n:05}.corp.example")
}

pub fn group_id(n: usize) -> String {
    format!("group-{n:05}.teams.example")
}

pub fn account_id(n: usize) -> String {
    format!("account-{n:05}.tenants.example")
}

pub fn target_id(n: usize) -> String {
    format!("doc:{n:08}.files.example")
}

pub fn policy_id(n: usize) -> String {
    format!("policy-{n:04}.corp.example")
}

/// How [`one_gap_names`] names land in their gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// Each name just below the one before (a run, as an import of numbered names adds
    /// them): each takes a label of its own.
    Run,
    /// Two runs meeting, in turn: one rising from the bottom of the gap, one falling from
    /// its top (two imports filling one gap from both ends). Each name is beside the other
    /// run's last as well as its own, and shares the longer prefix with its own.
    Meeting,
    /// Names from both ends of the gap in turn, each between the last two, where every
    /// rising name is a prefix of the falling ones (so each rising name shares the longer
    /// prefix with the falling run's last name and is taken for that run's): the gap runs
    /// out after a few dozen names and the names around it are relabelled. The case the
    /// labels do worst on.
    Converging,
}

/// `n` new names that all land in one gap of the name order: just after `near`'s
/// predecessor and before `near` itself, for a `near` made by [`agent_id`] or
/// [`target_id`] (`near`'s stem, then `-`, which sorts before `@` and `.`), as `gap` says.
pub fn one_gap_names(near: &str, n: usize, gap: Gap) -> Vec<String> {
    let stem = near
        .trim_end_matches(".files.example")
        .trim_end_matches("@corp.example");
    // "-y…" names sort below longer runs of "y", "-az…" names above shorter runs of "z",
    // and every "-a…" below every "-y…"; "-az…" below every "-az…z" + digits with more "z".
    let down = |k: usize| format!("{stem}-{}", "y".repeat(k));
    let up = |k: usize| format!("{stem}-a{}", "z".repeat(k));
    let top = "z".repeat(n / 2 + 1);
    let down_misled = |k: usize| format!("{stem}-a{top}{k:07}");
    match gap {
        Gap::Run => (1..=n).rev().map(down).collect(),
        Gap::Meeting => (0..n)
            .map(|i| if i % 2 == 0 { up(i / 2) } else { down(n - i / 2) })
            .collect(),
        Gap::Converging => (0..n)
            .map(|i| if i % 2 == 0 { up(i / 2) } else { down_misled(n - i / 2) })
            .collect(),
    }
}

fn triple(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> Triple {
    Triple::new(ty, agg, s, p, o, kv)
}

impl Org {
    /// Generates the organisation of `spec`.
    pub fn generate(spec: OrgSpec) -> Org {
        let mut rng = Rng(spec.seed);
        let levels = spec.levels.max(1);
        // Roles are numbered globally; `names[i]` is role i's id, `level[i]` its level.
        let mut names = Vec::with_capacity(spec.roles);
        let mut first_of_level = Vec::with_capacity(levels + 1);
        for level in 0..levels {
            first_of_level.push(names.len());
            for n in 0..spec.roles_at(level) {
                names.push(role_id(level, n));
            }
        }
        first_of_level.push(names.len());
        let mut events = Vec::with_capacity(spec.assignments() + spec.rules);
        // Each role below the top inherits one role of the level above.
        for level in 1..levels {
            let (above, above_end) = (first_of_level[level - 1], first_of_level[level]);
            for r in first_of_level[level]..first_of_level[level + 1] {
                let parents = if spec.max_parents > 1 {
                    1 + rng.below(spec.max_parents)
                } else {
                    1
                };
                let mut chosen: Vec<usize> = Vec::with_capacity(parents);
                while chosen.len() < parents.min(above_end - above) {
                    let parent = above + rng.below(above_end - above);
                    if chosen.contains(&parent) {
                        continue;
                    }
                    chosen.push(parent);
                    events.push(triple(
                        "Role.RoleAssigned",
                        &names[r],
                        &names[r],
                        "org:hasRole",
                        &names[parent],
                        &[],
                    ));
                }
            }
        }
        // Agents hold roles from the lower levels (the top is reached by inheritance).
        let lower = first_of_level[levels.saturating_sub(1).min(1)];
        let mut holders = vec![Vec::new(); spec.roles];
        for a in 0..spec.agents {
            let agent = agent_id(a);
            let wanted = if spec.power_law {
                // Pareto(α = 1.5, x_m = 2), capped at 60.
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                ((2.0 / (1.0 - u).powf(1.0 / 1.5)) as usize).clamp(2, 60)
            } else {
                spec.roles_per_agent
            };
            let mut held = Vec::with_capacity(wanted);
            while held.len() < wanted.min(spec.roles - lower) {
                let r = lower + rng.below(spec.roles - lower);
                if !held.contains(&r) {
                    held.push(r);
                }
            }
            for r in held {
                holders[r].push(a as u32);
                events.push(triple(
                    "Agent.RoleAssigned",
                    &agent,
                    &agent,
                    "org:hasRole",
                    &names[r],
                    &[],
                ));
            }
        }
        // Groups: each agent joins 0-2.
        let mut group_holders = vec![Vec::new(); spec.groups];
        for a in 0..spec.agents {
            if spec.groups == 0 {
                break;
            }
            let agent = agent_id(a);
            for _ in 0..rng.below(3) {
                let g = rng.below(spec.groups);
                if group_holders[g].last() == Some(&(a as u32)) {
                    continue;
                }
                group_holders[g].push(a as u32);
                events.push(triple(
                    "Agent.GroupMembershipAdded",
                    &agent,
                    &agent,
                    "foaf:member",
                    &group_id(g),
                    &[],
                ));
            }
        }
        // Accounts: members with an account role.
        let mut account_of = vec![None; spec.agents];
        let harmonic: f64 = (1..=spec.accounts).map(|k| 1.0 / k as f64).sum();
        let total_members = spec.accounts * spec.members_per_account;
        for acc in 0..spec.accounts {
            let account = account_id(acc);
            let size = if spec.skewed_accounts {
                ((total_members as f64 / harmonic / (acc + 1) as f64) as usize).max(2)
            } else {
                spec.members_per_account
            };
            for _ in 0..size {
                let a = rng.below(spec.agents);
                let role = &names[lower + rng.below(spec.roles - lower)];
                account_of[a] = Some(acc as u32);
                events.push(triple(
                    "Account.MemberAdded",
                    &account,
                    &account,
                    "org:hasMember",
                    &agent_id(a),
                    &[("role", role)],
                ));
            }
        }
        // Rules: ~10 per target; 90% on roles (any level), 10% on agents; 12% prohibitions;
        // 5% of permissions and 1 in 1,000 prohibitions on `*` (a prohibition on everything
        // is rare in a real organisation: with 30 roles per closure, more would deny almost
        // every check); 15% of permissions grant `odrl:use`, the rest a leaf action.
        let targets = (spec.rules / 10).max(1);
        let policies = (spec.rules / 10_000).clamp(1, 100);
        let mut rules = Vec::with_capacity(spec.rules);
        for i in 0..spec.rules {
            let assignee = if rng.percent(90) {
                if spec.groups > 0 && rng.percent(20) {
                    Assignee::Group(rng.below(spec.groups) as u32)
                } else {
                    Assignee::Role(rng.below(spec.roles) as u32)
                }
            } else {
                Assignee::Agent(rng.below(spec.agents) as u32)
            };
            let prohibition = rng.percent(12);
            let action = if !prohibition && rng.percent(15) {
                "odrl:use"
            } else {
                LEAF_ACTIONS[rng.below(LEAF_ACTIONS.len())]
            };
            let star = if prohibition {
                rng.next_u64().is_multiple_of(1000)
            } else {
                rng.percent(5)
            };
            let t = rng.below(targets) as u32;
            let target = if star { "*".to_string() } else { target_id(t as usize) };
            let who = match assignee {
                Assignee::Role(r) => names[r as usize].clone(),
                Assignee::Group(g) => group_id(g as usize),
                Assignee::Agent(a) => agent_id(a as usize),
            };
            let (ty, pred) = if prohibition {
                ("Policy.ProhibitionSet", "odrl:prohibition")
            } else {
                ("Policy.PermissionGranted", "odrl:permission")
            };
            events.push(triple(
                ty,
                &policy_id(i % policies),
                &who,
                pred,
                &target,
                &[("action", action)],
            ));
            if !star {
                rules.push((assignee, action, t, prohibition));
            }
        }
        Org {
            spec,
            events,
            holders,
            group_holders,
            account_of,
            rules,
            targets,
        }
    }

    /// Rows that are not rules: role and group edges and memberships.
    pub fn assignments(&self) -> usize {
        self.events.len() - self.spec.rules
    }

    /// `n` checks: 40% aimed at a permission, 20% at a prohibition, 40% random; a quarter
    /// of them inside an account (the agent's own when it is a member somewhere).
    pub fn checks(&self, n: usize, seed: u64) -> Vec<CheckCase> {
        let mut rng = Rng(seed);
        let perms: Vec<usize> = (0..self.rules.len()).filter(|i| !self.rules[*i].3).collect();
        let prohibs: Vec<usize> = (0..self.rules.len()).filter(|i| self.rules[*i].3).collect();
        (0..n)
            .map(|i| {
                let roll = rng.below(10);
                let pick = |rng: &mut Rng, from: &[usize]| from.get(rng.below(from.len())).copied();
                let aimed = match roll {
                    0..=3 => pick(&mut rng, &perms).map(|r| (r, Aim::Permission)),
                    4..=5 => pick(&mut rng, &prohibs).map(|r| (r, Aim::Prohibition)),
                    _ => None,
                };
                let (agent, action, target, aim) = match aimed {
                    Some((r, aim)) => {
                        let (assignee, action, t, _) = self.rules[r];
                        let holders = match assignee {
                            Assignee::Agent(a) => Err(a as usize),
                            Assignee::Role(r) => Ok(&self.holders[r as usize]),
                            Assignee::Group(g) => Ok(&self.group_holders[g as usize]),
                        };
                        let agent = match holders {
                            Err(a) => a,
                            Ok(h) if h.is_empty() => rng.below(self.spec.agents),
                            Ok(h) => h[rng.below(h.len())] as usize,
                        };
                        // A grant of `use` is checked as one of its leaves half the time.
                        let action = if action == "odrl:use" && rng.percent(50) {
                            LEAF_ACTIONS[rng.below(LEAF_ACTIONS.len())]
                        } else {
                            action
                        };
                        (agent, action, t as usize, aim)
                    }
                    None => (
                        rng.below(self.spec.agents),
                        LEAF_ACTIONS[rng.below(LEAF_ACTIONS.len())],
                        rng.below(self.targets),
                        Aim::Random,
                    ),
                };
                let account = (i % 4 == 1).then(|| {
                    let acc = self.account_of[agent].map_or_else(|| rng.below(self.spec.accounts), |a| a as usize);
                    account_id(acc)
                });
                CheckCase {
                    agent: agent_id(agent),
                    account,
                    action,
                    target: target_id(target),
                    aim,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
