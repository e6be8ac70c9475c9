//! When the summaries are built, installed and dropped: at the end of a bulk load, on a
//! low-priority thread after the writes that drop them, and which changes drop them.

use super::*;

impl Index {
    /// Builds every role's summary now (the end of a bulk load does; tests and benchmarks
    /// call it after writes, which drop them).
    pub fn summarize(&mut self) {
        self.summaries = Some(Arc::new(Summaries::build(self)));
        self.rebuilding = None;
    }

    /// While no summaries are current: installs the ones a background build finished, if
    /// no change since its snapshot could have changed them; otherwise starts a build on
    /// a low-priority thread from this snapshot (one at a time; here, when no thread can
    /// be started). The projector calls it after each page of events and when idle.
    /// Returns true when it installed summaries.
    pub fn refresh_summaries(&mut self) -> bool {
        if self.summaries.is_some() {
            return false;
        }
        if let Some((epoch, job)) = &self.rebuilding {
            let current = *epoch == self.summary_epoch;
            match job.built() {
                Some(built) if current => {
                    self.summaries = Some(built.clone());
                    self.rebuilding = None;
                    return true;
                }
                // Built from facts that have changed since: build again.
                Some(_) => {}
                // A build of these very facts failed (it panicked): checks walk.
                None if job.failed() && current => return false,
                None if job.failed() => {}
                None => return false,
            }
        }
        let (snapshot, epoch) = (self.clone(), self.summary_epoch);
        match Background::start("endocarp-summaries", move || Arc::new(Summaries::build(&snapshot))) {
            Some(job) => self.rebuilding = Some((epoch, job)),
            None => self.summarize(),
        }
        false
    }

    /// True when a background build has finished summaries that are still current
    /// ([`Index::refresh_summaries`] would install them).
    pub fn summaries_ready(&self) -> bool {
        self.summaries.is_none()
            && self
                .rebuilding
                .as_ref()
                .is_some_and(|(epoch, job)| *epoch == self.summary_epoch && job.built().is_some())
    }

    /// Waits for a background build of the summaries and installs it when current
    /// (tests and benchmarks).
    #[doc(hidden)]
    pub fn finish_summaries(&mut self) -> bool {
        if let Some((_, job)) = &self.rebuilding {
            job.finish();
        }
        self.refresh_summaries_if_built()
    }

    /// [`Index::refresh_summaries`] without starting a build.
    fn refresh_summaries_if_built(&mut self) -> bool {
        self.summaries_ready() && self.refresh_summaries()
    }

    /// From the next build of the summaries on, agents holding at least `roles` roles
    /// (one at the least) get a summary of their own (tests summarise every agent with
    /// one).
    #[doc(hidden)]
    pub fn set_agent_summary_roles(&mut self, roles: usize) {
        self.agent_summary_roles = roles.max(1);
    }

    /// How many roles an agent holds at the least to have a summary of its own (it may
    /// have none: [`AGENT_SUMMARY_BIG_ROLES`]).
    #[inline]
    pub(crate) fn agent_summary_roles(&self) -> usize {
        self.agent_summary_roles.min(AGENT_SUMMARY_BIG_ROLES)
    }

    /// True when agent `name` has a summary of its own that stands for it (current
    /// summaries, built from the roles its row lists now): tests.
    #[doc(hidden)]
    pub fn agent_summarized(&self, name: &str) -> bool {
        let (Some(summaries), Some(id)) = (self.summaries(), self.node_id(name)) else {
            return false;
        };
        summaries.of_agent(id, self.node_by_id(id).global()).is_some()
    }

    /// True when the role summaries are current (no write has dropped them since they were
    /// built).
    pub fn summarized(&self) -> bool {
        self.summaries.is_some()
    }

    /// The role summaries, while current.
    #[inline]
    pub(crate) fn summaries(&self) -> Option<&Summaries> {
        self.summaries.as_deref()
    }
}

impl Index {
    /// True when `change` could change a role summary: a rule on `*`, an edge, or an
    /// account entry on a role's row (only roles are in closures: an edge always points to
    /// one), or a known policy's status or type (which rules count). A new node is in no
    /// closure until an edge from a role reaches it, which is such a change.
    pub(in crate::engine::index) fn drops_summaries(&self, change: &Change) -> bool {
        let role = |name: &Id| self.node(name.as_str()).is_some_and(|n| n.role);
        match change {
            Change::GlobalEdge { node, .. } | Change::AccountEdge { node, .. } => role(node),
            Change::MemberSet { agent, .. } | Change::MemberRemoved { agent, .. } => role(agent),
            Change::Rule { rule, .. } => rule.target == Target::Any && role(&rule.assignee),
            Change::PolicyCreated { policy, .. } => self.policies.id(policy.as_str()).is_some(),
            Change::Status { kind, id, .. } => *kind == EntityKind::Policy && self.policies.id(id.as_str()).is_some(),
            Change::DutyDischarged { .. }
            | Change::AssetCollection { .. }
            | Change::MarkRole { .. }
            | Change::Ignored { .. } => false,
        }
    }
}
