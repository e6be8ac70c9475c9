//! [`Reverse::validate`]: every reverse structure rebuilt from the forward rows and
//! compared with what the writes kept (run after every step in tests).

use super::*;

impl Reverse {
    /// Rebuilds every reverse structure from the forward rows and compares.
    pub(in crate::engine::index) fn validate(&self, index: &Index) -> Result<(), String> {
        if self.bulk {
            return Err("a bulk load is not finished (end_bulk)".into());
        }
        if self.nodes.len() != index.nodes.len() {
            return Err(format!(
                "{} reverse entries for {} nodes",
                self.nodes.len(),
                index.nodes.len()
            ));
        }
        if self.targets.ids.count() != self.targets.len() {
            return Err("target names and ids differ in number".into());
        }
        if self.labels.len() != self.targets.len() {
            return Err(format!(
                "{} target labels for {} targets",
                self.labels.len(),
                self.targets.len()
            ));
        }
        self.moved.validate("target", self.targets.len())?;
        let (t, settled) = self.settling;
        if let Some(label) = self.moved.get(t) {
            let rules = row_of(&index.targets, index.loading.as_deref(), t);
            for r in rules.iter().take(settled as usize) {
                let held = self.node(r.assignee).map(|row| {
                    row.rules(r.ak & 1 == 1)
                        .iter()
                        .find(|e| (e.target, e.ak, e.policy) == (t, r.ak, r.policy))
                        .map(RevRule::stored_label)
                });
                if held != Some(Some(label)) {
                    return Err(format!(
                        "moved target {t}: a rule settling has passed holds label {held:?}, not {label}"
                    ));
                }
            }
        }
        self.order.validate("target", self.targets.len(), |t| {
            (self.targets.get(t).clone(), self.target_label(t))
        })?;
        self.targets.ids.validate()?;
        if index.targets.len() != self.targets.len() {
            return Err(format!(
                "{} target rows for {} target ids",
                index.targets.len(),
                self.targets.len()
            ));
        }
        /// One node's rows as plain vectors.
        #[derive(Default, Debug, PartialEq)]
        struct Want {
            permits: Vec<RevRule>,
            denies: Vec<RevRule>,
            incoming: Vec<u32>,
            incoming_acc: Vec<Incoming>,
        }
        let mut want: Vec<Want> = (0..index.nodes.len()).map(|_| Want::default()).collect();
        let mut star = imbl::OrdSet::new();
        for (id, node) in index.nodes.entries.iter().enumerate() {
            let id = id as u32;
            for e in node.global() {
                want[e.0 as usize].incoming.push(id);
            }
            for e in &node.accounts {
                want[e.role as usize].incoming_acc.push(Incoming {
                    account: e.account,
                    node: id,
                    member: e.member,
                });
            }
            for r in node.star() {
                star.insert((ak_action(r.0), id));
            }
        }
        for (target, rules) in index.target_rows() {
            let Some(t) = self.targets.id(target.as_str()) else {
                return Err(format!("target {target:?} has rules but no reverse id"));
            };
            for r in rules.iter() {
                let row = &mut want[r.assignee as usize];
                let rules = if r.ak & 1 == 1 {
                    &mut row.permits
                } else {
                    &mut row.denies
                };
                rules.push(RevRule::new(self.target_label(t), t, r.ak, r.policy));
            }
        }
        for (id, w) in want.iter_mut().enumerate() {
            w.incoming.sort();
            w.incoming_acc.sort();
            let key = |r: &RevRule| (self.target_name(r.target), r.ak, r.policy);
            w.permits.sort_by(|a, b| key(a).cmp(&key(b)));
            w.denies.sort_by(|a, b| key(a).cmp(&key(b)));
            let held = self.node(id as u32);
            let same = match held {
                None => *w == Want::default(),
                Some(h) => {
                    // As read: a moved target's entries by its new label.
                    let read = |r: &RevRule| RevRule::new(self.entry_label(r), r.target, r.ak, r.policy);
                    let got = Want {
                        permits: h.permits.iter().map(read).collect(),
                        denies: h.denies.iter().map(read).collect(),
                        incoming: h.incoming.iter().copied().collect(),
                        incoming_acc: h.incoming_acc.iter().copied().collect(),
                    };
                    !h.is_empty()
                        && got == *w
                        && [h.permits.len(), h.denies.len(), h.incoming.len(), h.incoming_acc.len()]
                            == [w.permits.len(), w.denies.len(), w.incoming.len(), w.incoming_acc.len()]
                }
            };
            if !same {
                return Err(format!("node {id}: reverse row {held:?}, the forward rows give {w:?}"));
            }
        }
        if star != self.star {
            return Err(format!(
                "rules on * held by {:?}, the forward rows give {star:?}",
                self.star
            ));
        }
        Ok(())
    }
}
