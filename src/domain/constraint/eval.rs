//! Evaluating a condition against a request's context: the three-valued [`Truth`] a check
//! reads, the [`Verdict`] with its reason an explanation reads, each failing closed.

use super::*;

/// A verdict without its reasons: what a check needs outside explain mode (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    /// Whether a rule of this kind applies (fail closed, as [`Verdict::applies`]).
    #[inline]
    pub fn applies(self, prohibition: bool) -> bool {
        match self {
            Truth::True => true,
            Truth::False => false,
            Truth::Unknown => prohibition,
        }
    }

    pub(super) fn and(items: impl Iterator<Item = Truth>) -> Truth {
        let mut out = Truth::True;
        for t in items {
            match t {
                Truth::False => return Truth::False,
                Truth::Unknown => out = Truth::Unknown,
                Truth::True => {}
            }
        }
        out
    }
}

impl Condition {
    /// [`Condition::evaluate`] without the reasons: the same verdict, no allocation on the
    /// paths a check takes (a missing left operand, a satisfied or failed comparison).
    pub fn truth(&self, ctx: &Context, now: &mut Now, party: &Party<'_>) -> Truth {
        match Truth::and(
            self.constraints
                .iter()
                .chain(&self.refinements)
                .map(|c| c.truth(ctx, now)),
        ) {
            Truth::True if !self.duties.iter().all(|d| d.holds(ctx, now, party)) => Truth::False,
            t => t,
        }
    }
}

impl Constraint {
    pub(super) fn truth(&self, ctx: &Context, now: &mut Now) -> Truth {
        match self {
            Constraint::Atomic(a) => a.truth(ctx, now),
            Constraint::Logical { logic, operands } => match logic {
                Logic::And | Logic::AndSequence => Truth::and(operands.iter().map(|c| c.truth(ctx, now))),
                Logic::Or => {
                    let mut out = Truth::False;
                    for c in operands {
                        match c.truth(ctx, now) {
                            Truth::True => return Truth::True,
                            Truth::Unknown => out = Truth::Unknown,
                            Truth::False => {}
                        }
                    }
                    out
                }
                Logic::Xone => {
                    let (mut yes, mut unknown) = (0, false);
                    for c in operands {
                        match c.truth(ctx, now) {
                            Truth::True => yes += 1,
                            Truth::Unknown => unknown = true,
                            Truth::False => {}
                        }
                    }
                    if yes > 1 {
                        Truth::False
                    } else if unknown {
                        Truth::Unknown
                    } else if yes == 1 {
                        Truth::True
                    } else {
                        Truth::False
                    }
                }
            },
        }
    }
}

/// Why a left operand has no value.
enum LeftMissing {
    Absent,
    /// The context's value is in this unit (or none), not the constraint's.
    Unit(Option<String>),
}

/// The time a check is evaluated at: the server's clock, read once when first needed.
#[derive(Debug, Default)]
pub struct Now(Option<DateTime<Utc>>);

impl Now {
    /// A fixed time (tests, and a request that pins `odrl:dateTime`).
    pub fn at(t: DateTime<Utc>) -> Now {
        Now(Some(t))
    }

    fn get(&mut self) -> DateTime<Utc> {
        *self.0.get_or_insert_with(Utc::now)
    }
}

/// The outcome of evaluating a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Satisfied,
    /// The constraint (canonical JSON) that does not hold.
    NotSatisfied {
        constraint: String,
    },
    /// The first constraint that could not be evaluated, and why.
    Unknown {
        constraint: String,
        why: String,
    },
}

impl Verdict {
    /// Whether a rule of this kind applies (fail closed: an unknown constraint keeps a
    /// permission out and lets a prohibition in).
    pub fn applies(&self, prohibition: bool) -> bool {
        match self {
            Verdict::Satisfied => true,
            Verdict::NotSatisfied { .. } => false,
            Verdict::Unknown { .. } => prohibition,
        }
    }

    /// One line for an explanation.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Satisfied => "every constraint is satisfied".into(),
            Verdict::NotSatisfied { constraint } => format!("not satisfied: {constraint}"),
            Verdict::Unknown { constraint, why } => format!("cannot be evaluated ({why}): {constraint}"),
        }
    }
}

impl Constraint {
    pub(super) fn evaluate(&self, ctx: &Context, now: &mut Now) -> Verdict {
        match self {
            Constraint::Atomic(a) => a.evaluate(ctx, now),
            Constraint::Logical { logic, operands } => {
                let verdicts: Vec<Verdict> = operands.iter().map(|c| c.evaluate(ctx, now)).collect();
                let yes = verdicts.iter().filter(|v| **v == Verdict::Satisfied).count();
                let unknown = verdicts.iter().find(|v| matches!(v, Verdict::Unknown { .. }));
                let text = || self.to_json().to_string();
                match logic {
                    Logic::And | Logic::AndSequence => verdicts
                        .iter()
                        .find(|v| matches!(v, Verdict::NotSatisfied { .. }))
                        .or(unknown)
                        .cloned()
                        .unwrap_or(Verdict::Satisfied),
                    Logic::Or => {
                        if yes > 0 {
                            Verdict::Satisfied
                        } else if let Some(u) = unknown {
                            u.clone()
                        } else {
                            Verdict::NotSatisfied { constraint: text() }
                        }
                    }
                    Logic::Xone => {
                        if yes > 1 {
                            Verdict::NotSatisfied { constraint: text() }
                        } else if let Some(u) = unknown {
                            u.clone()
                        } else if yes == 1 {
                            Verdict::Satisfied
                        } else {
                            Verdict::NotSatisfied { constraint: text() }
                        }
                    }
                }
            }
        }
    }
}

impl Atomic {
    /// The left operand's value: the context's, or the clock for `odrl:dateTime`; `Err`
    /// when it cannot be had (missing, or in another unit), with why.
    fn left_value<'c>(&self, ctx: &'c Context, now: &mut Now) -> Result<std::borrow::Cow<'c, Literal>, LeftMissing> {
        match ctx.get(&self.left) {
            Some((v, unit)) => {
                if self.unit.is_some() && unit.as_ref() != self.unit.as_ref() {
                    Err(LeftMissing::Unit(unit.clone()))
                } else {
                    Ok(std::borrow::Cow::Borrowed(v))
                }
            }
            None if self.left == "odrl:dateTime" => Ok(std::borrow::Cow::Owned(Literal::DateTime {
                at: now.get(),
                zoned: true,
            })),
            None => Err(LeftMissing::Absent),
        }
    }

    pub(super) fn truth(&self, ctx: &Context, now: &mut Now) -> Truth {
        match self.left_value(ctx, now) {
            Err(_) => Truth::Unknown,
            Ok(left) => match self.holds(&left) {
                Ok(true) => Truth::True,
                Ok(false) => Truth::False,
                Err(_) => Truth::Unknown,
            },
        }
    }

    pub(super) fn evaluate(&self, ctx: &Context, now: &mut Now) -> Verdict {
        let unknown = |why: String| Verdict::Unknown {
            constraint: self.text.clone(),
            why,
        };
        let left = match self.left_value(ctx, now) {
            Ok(left) => left,
            Err(LeftMissing::Unit(unit)) => {
                return unknown(format!(
                    "the context gives {} in {}, the constraint needs {}",
                    self.left,
                    unit.as_deref().unwrap_or("no unit"),
                    self.unit.as_deref().unwrap_or("no unit")
                ));
            }
            Err(LeftMissing::Absent) => return unknown(format!("the request's context has no {}", self.left)),
        };
        match self.holds(&left) {
            Ok(true) => Verdict::Satisfied,
            Ok(false) => Verdict::NotSatisfied {
                constraint: self.text.clone(),
            },
            Err(why) => unknown(why),
        }
    }

    /// Whether the constraint holds for `left`, or why that cannot be told.
    fn holds(&self, left: &Literal) -> Result<bool, String> {
        use Operator as O;
        let right = &self.right;
        match self.operator {
            O::Eq | O::Neq | O::Lt | O::Lteq | O::Gt | O::Gteq => test(self.operator, left, right),
            O::IsAnyOf => {
                for x in as_set(left) {
                    if member_of(x, as_set(right))? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            O::IsNoneOf => {
                for x in as_set(left) {
                    if member_of(x, as_set(right))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            O::IsAllOf | O::HasPart => {
                for x in as_set(right) {
                    if !member_of(x, as_set(left))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            O::IsPartOf => {
                for x in as_set(left) {
                    if !member_of(x, as_set(right))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            O::IsA => {
                let Literal::Iri(class) = right else {
                    return Err("isA needs an IRI as its right operand".into());
                };
                for x in as_set(left) {
                    match x {
                        Literal::Iri(i) | Literal::String(i) if i == class => return Ok(true),
                        Literal::Iri(_) | Literal::String(_) => {}
                        other => return Err(format!("isA needs IRIs, not a {}", kind(other))),
                    }
                }
                Ok(false)
            }
        }
    }
}
