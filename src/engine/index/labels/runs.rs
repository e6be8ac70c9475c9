//! Runs of names each added beside the one before (see the parent module's docs): which
//! run a new name extends, so the labels can keep the gap for the run's next names.

/// Names added one after another, each the nearest neighbour of the one before it on the
/// same side (`user-0001`, `user-0002`, … into one gap, or descending): such a run takes
/// labels ever closer to the last one, where halving the gap each time would run out of
/// room after ~40 names and relabel ever larger runs of names around it (hundreds of rows
/// written by one write after a few hundred such names).
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    /// The id of the run's last name.
    last: Option<u32>,
    /// The side of the name before it the run's last name was added on (`true`: just
    /// above it), once known: from the run's second name, or from its first when that
    /// shared the longer prefix with one of its neighbours (the run starts on that side).
    up: Option<bool>,
    /// How many names in a row were added beside the one before, on the same side.
    len: u32,
    /// When the run last took a name ([`Runs::clock`]).
    stamp: u32,
}

/// The runs being followed: a few at once, so runs interleaved by writers importing side
/// by side (each run's names beside its own last one, not beside the name written last)
/// are each followed; a name beside none of their last names starts a run in place of the
/// one that started longest ago.
///
/// Two runs can meet: one rising towards the other falling (two imports filling one gap
/// from both ends), so that the gap between their last names is where either's next name
/// goes. So a name goes with the neighbour it shares the longer byte prefix with
/// (`user-0124` continues `user-0123`, not `user-0500`): it extends the run that ends
/// there, else a run that continues on its own side from the other neighbour (a single
/// run whose next name happens to share more with the far neighbour, as `user-059999`
/// below `user-060000` with `user-050000` below it), else starts a run on that side. Only
/// when it shares as much with both does the side it is on decide: a run continuing on its
/// side, and of two such (one from each neighbour) the one that took a name last — but
/// then the name gets the midpoint, since a name given to the wrong one of two meeting runs
/// would take a label a 65,536th of the gap from the other's last and leave both runs that
/// sliver. Given to the wrong run at every name, as before this rule, meeting runs used the
/// gap up in a few dozen names and relabelled the names around it (hundreds in one write
/// after a thousand names).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Runs {
    runs: [Run; 4],
    /// Where the next run starts.
    next: u8,
    /// Names noted so far (wrapping): when each run last took one.
    clock: u32,
}

impl Runs {
    /// Notes a name `id` added between `below` and `above` (ids), and returns the length
    /// of the run it extends (0: none, a run's first name after a turn, or a name two runs
    /// could continue) and its side (`true`: each name above the one before).
    /// `nearer_below` tells whether the name shares a longer prefix with the name below
    /// than with the one above (`None`: as long with both, or a neighbour is missing).
    pub(super) fn extend(
        &mut self,
        id: u32,
        below: Option<u32>,
        above: Option<u32>,
        nearer_below: Option<bool>,
    ) -> (u32, bool) {
        self.clock = self.clock.wrapping_add(1);
        let side = |r: &Run| match r.last {
            Some(last) if below == Some(last) => Some(true),
            Some(last) if above == Some(last) => Some(false),
            _ => None,
        };
        // A run this name continues on its side.
        let continues = |r: &Run| side(r).is_some() && side(r) == r.up;
        // Two runs could take the name, and the prefix cannot tell which.
        let mut torn = false;
        let at = match nearer_below {
            // The neighbour it shares the longer prefix with: the run ending there, else one
            // continuing from the other neighbour.
            Some(below_side) => (self.runs.iter().position(|r| side(r) == Some(below_side)))
                .or_else(|| self.runs.iter().position(continues)),
            None => {
                // A run continuing on its side, else one it is beside. At most two runs
                // continue (a run's last name is its own), one from each neighbour: the one
                // that took a name last is followed (stamps wrap: ages).
                let age = |r: &Run| self.clock.wrapping_sub(r.stamp);
                let mut continuing = (0..self.runs.len()).filter(|&i| continues(&self.runs[i]));
                let (first, second) = (continuing.next(), continuing.next());
                torn = second.is_some();
                match (first, second) {
                    (Some(a), Some(b)) if age(&self.runs[b]) < age(&self.runs[a]) => Some(b),
                    (a, _) => a,
                }
                .or_else(|| self.runs.iter().position(|r| side(r).is_some()))
            }
        };
        let Some(at) = at else {
            let at = usize::from(self.next) % self.runs.len();
            self.next = self.next.wrapping_add(1);
            self.runs[at] = Run {
                last: Some(id),
                // Beside the neighbour it shares the longer prefix with, on that side.
                up: nearer_below,
                len: 0,
                stamp: self.clock,
            };
            return (0, false);
        };
        let run = &mut self.runs[at];
        let up = side(run);
        run.len = if up == run.up { run.len.saturating_add(1) } else { 0 };
        run.up = up;
        run.last = Some(id);
        run.stamp = self.clock;
        (if torn { 0 } else { run.len }, up.unwrap_or(false))
    }
}
