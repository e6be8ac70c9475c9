//! Unit tests of constraints, refinements, duties and their evaluation.

use super::*;

fn cond(json: &str) -> Condition {
    Condition::parse("constraint", json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn ctx(entries: &[(&str, Literal)]) -> Context {
    let mut c = Context::default();
    for (k, v) in entries {
        c.insert(k, v.clone(), None).unwrap();
    }
    c
}

fn s(x: &str) -> Literal {
    Literal::String(x.into())
}

fn n(x: &str) -> Literal {
    Literal::Number(Decimal::parse(x).unwrap())
}

fn at(x: &str) -> Literal {
    let (at, zoned) = parse_date_time(x).unwrap();
    Literal::DateTime { at, zoned }
}

/// The verdict, after checking that the allocation-free [`Condition::truth`] agrees.
fn eval(c: &str, ctx: &Context) -> Verdict {
    let at = parse_date_time("2026-12-01T12:00:00Z").unwrap().0;
    let c = cond(c);
    let verdict = c.evaluate(ctx, &mut Now::at(at), &Party::NOBODY);
    let want = match verdict {
        Verdict::Satisfied => Truth::True,
        Verdict::NotSatisfied { .. } => Truth::False,
        Verdict::Unknown { .. } => Truth::Unknown,
    };
    assert_eq!(c.truth(ctx, &mut Now::at(at), &Party::NOBODY), want, "{}", c.text);
    verdict
}

fn sat(c: &str, ctx: &Context) -> bool {
    match eval(c, ctx) {
        Verdict::Satisfied => true,
        Verdict::NotSatisfied { .. } => false,
        u => panic!("{c}: {u:?}"),
    }
}

fn unknown(c: &str, ctx: &Context) -> bool {
    matches!(eval(c, ctx), Verdict::Unknown { .. })
}

#[test]
fn decimals_compare_exactly() {
    let d = |x: &str| Decimal::parse(x).unwrap();
    assert_eq!(d("4"), d("4.0"));
    assert_eq!(d("004.000"), d("4"));
    assert_eq!(d("-0"), d("0"));
    assert_eq!(d("1e3"), d("1000"));
    assert_eq!(d("1.5E-2"), d("0.015"));
    assert!(d("-2") < d("-1.5"));
    assert!(d("9.99") < d("10"));
    assert!(d("0.1") < d("0.10000000000000000001"));
    assert!(d("12345678901234567890.5") > d("12345678901234567890.49"));
    for bad in ["", "-", ".", "1.2.3", "1e", "abc", "1,5", "1e999"] {
        assert!(Decimal::parse(bad).is_none(), "{bad}");
    }
    assert_eq!(Decimal::from_f64(0.1).unwrap(), d("0.1"));
    assert_eq!(d("-1.50").to_string(), "-1.5");
}

#[test]
fn canonical_text_is_one_per_meaning() {
    let a = cond(r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#);
    let b = cond(
        r#"[{"rightOperand":"research","operator":"http://www.w3.org/ns/odrl/2/eq","odrl:leftOperand":{"@id":"http://www.w3.org/ns/odrl/2/purpose"}}]"#,
    );
    assert_eq!(a, b);
    assert_eq!(
        &*a.text,
        r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#
    );
    let typed = cond(
        r#"{"leftOperand":"odrl:payAmount","operator":"odrl:lteq","rightOperand":{"@value":"10.50","@type":"xsd:decimal"},"unit":"http://dbpedia.org/resource/Euro"}"#,
    );
    let plain = cond(
        r#"{"leftOperand":"odrl:payAmount","operator":"odrl:lteq","rightOperand":10.5,"unit":"http://dbpedia.org/resource/Euro"}"#,
    );
    assert_eq!(typed, plain);
    // Canonical text parses to itself.
    assert_eq!(cond(&typed.text), typed);
    // Bare names are ODRL terms, as ODRL's JSON-LD context reads them.
    assert_eq!(
        cond(r#"{"leftOperand":"purpose","operator":"eq","rightOperand":"research"}"#),
        a
    );
    // A zoned date keeps its day and zone.
    let d = cond(
        r#"{"leftOperand":"dateTime","operator":"lt","rightOperand":{"@value":"2026-12-01+01:00","@type":"xsd:date"}}"#,
    );
    assert!(d.text.contains(r#""@value":"2026-12-01+01:00""#), "{}", d.text);
    assert_eq!(cond(&d.text), d);
    // `neg` is the erratum spelling of `neq`.
    assert_eq!(
        cond(r#"{"leftOperand":"odrl:purpose","operator":"odrl:neg","rightOperand":"x"}"#),
        cond(r#"{"leftOperand":"odrl:purpose","operator":"odrl:neq","rightOperand":"x"}"#)
    );
}

#[test]
fn malformed_constraints_are_refused_with_the_field() {
    for (json, field) in [
        ("not json", "constraint"),
        ("[]", "constraint"),
        ("42", "constraint[0]"),
        (
            r#"{"operator":"odrl:eq","rightOperand":1}"#,
            "constraint[0].leftOperand",
        ),
        (
            r#"{"leftOperand":"odrl:count","operator":"odrl:near","rightOperand":1}"#,
            "constraint[0].operator",
        ),
        (
            r#"{"leftOperand":"odrl:count","operator":"near","rightOperand":1}"#,
            "constraint[0].operator",
        ),
        (
            r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperandReference":"http://x/y"}"#,
            "constraint[0].rightOperandReference",
        ),
        (
            r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":1,"status":3}"#,
            "constraint[0].status",
        ),
        (
            r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":null}"#,
            "constraint[0].rightOperand",
        ),
        (
            r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":[[1]]}"#,
            "constraint[0].rightOperand[0]",
        ),
        (
            r#"{"leftOperand":"odrl:dateTime","operator":"odrl:lt","rightOperand":{"@value":"yesterday","@type":"xsd:dateTime"}}"#,
            "constraint[0].rightOperand",
        ),
        (
            r#"{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":"1.5","dataType":"xsd:integer"}"#,
            "constraint[0].rightOperand",
        ),
        (r#"{"and":[]}"#, "constraint[0].and"),
        (r#"{"and":{}}"#, "constraint[0].and"),
        (r#"{"and":[],"or":[]}"#, "constraint[0]"),
        (r#"{"left Operand":"x"}"#, "constraint[0].left Operand"),
        (
            r#"{"leftOperand":"no such","operator":"odrl:eq","rightOperand":"x"}"#,
            "constraint[0].leftOperand",
        ),
    ] {
        let e = Condition::parse("constraint", json).expect_err(json);
        assert_eq!(e.field, field, "{json}: {e}");
    }
    // Too deep, and too many.
    let mut deep = r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":1}"#.to_string();
    for _ in 0..MAX_DEPTH {
        deep = format!(r#"{{"and":[{deep}]}}"#);
    }
    assert!(Condition::parse("constraint", &deep).is_err());
    let wide = format!(
        "[{}]",
        vec![r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":1}"#; MAX_NODES + 1].join(",")
    );
    assert!(Condition::parse("constraint", &wide).is_err());
}

#[test]
fn comparisons_are_typed() {
    let c = ctx(&[
        ("odrl:count", n("5")),
        ("odrl:purpose", s("research")),
        ("ex:flag", Literal::Boolean(true)),
    ]);
    let num =
        |op: &str, r: &str| format!(r#"{{"leftOperand":"odrl:count","operator":"odrl:{op}","rightOperand":{r}}}"#);
    assert!(sat(&num("eq", "5.0"), &c));
    assert!(!sat(&num("neq", "5"), &c));
    assert!(sat(&num("lt", "6"), &c));
    assert!(!sat(&num("lt", "5"), &c));
    assert!(sat(&num("lteq", "5"), &c));
    assert!(sat(&num("gt", "4.99"), &c));
    assert!(sat(&num("gteq", "5"), &c));
    assert!(!sat(&num("gt", "5"), &c));
    // A number compares with a numeric string right operand given a dataType.
    assert!(sat(
        r#"{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":"10","dataType":"xsd:integer"}"#,
        &c
    ));
    // Strings: eq and neq only.
    let st = |op: &str| format!(r#"{{"leftOperand":"odrl:purpose","operator":"odrl:{op}","rightOperand":"research"}}"#);
    assert!(sat(&st("eq"), &c));
    assert!(!sat(&st("neq"), &c));
    assert!(unknown(&st("lt"), &c));
    // A string does not compare with a number: unknown, never false or true.
    assert!(unknown(
        r#"{"leftOperand":"odrl:purpose","operator":"odrl:neq","rightOperand":3}"#,
        &c
    ));
    assert!(sat(
        r#"{"leftOperand":"ex:flag","operator":"odrl:eq","rightOperand":true}"#,
        &c
    ));
    // Missing context: unknown.
    assert!(unknown(
        r#"{"leftOperand":"odrl:spatial","operator":"odrl:eq","rightOperand":{"@id":"http://x/eu"}}"#,
        &c
    ));
    // Unknown datatype: unknown.
    assert!(unknown(
        r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":{"@value":"P1D","@type":"xsd:duration"}}"#,
        &c
    ));
}

#[test]
fn date_time_uses_the_clock_or_the_pinned_time_and_honours_zones() {
    let none = Context::default();
    let before = |t: &str| {
        format!(
            r#"{{"leftOperand":"odrl:dateTime","operator":"odrl:lt","rightOperand":{{"@value":"{t}","@type":"xsd:dateTime"}}}}"#
        )
    };
    // The clock (pinned by the test's Now) is 2026-12-01T12:00:00Z.
    assert!(sat(&before("2026-12-01T12:00:01Z"), &none));
    assert!(!sat(&before("2026-12-01T12:00:00Z"), &none));
    assert!(sat(&before("2026-12-01T13:00:01+01:00"), &none));
    // A zone-less right operand within 14 hours: indeterminate.
    assert!(unknown(&before("2026-12-01T20:00:00"), &none));
    assert!(sat(&before("2026-12-02T03:00:00"), &none));
    // The request pins a time.
    let pinned = ctx(&[("odrl:dateTime", at("2030-01-01T00:00:00Z"))]);
    assert!(!sat(&before("2026-12-01T12:00:01Z"), &pinned));
    // Dates are whole days.
    let day = |op: &str, d: &str| {
        format!(
            r#"{{"leftOperand":"odrl:dateTime","operator":"odrl:{op}","rightOperand":{{"@value":"{d}","@type":"xsd:date"}}}}"#
        )
    };
    assert!(sat(&day("eq", "2026-12-01Z"), &none));
    assert!(sat(&day("lteq", "2026-12-01Z"), &none));
    assert!(!sat(&day("lt", "2026-12-01Z"), &none));
    assert!(sat(&day("lt", "2026-12-02Z"), &none));
    assert!(sat(&day("gt", "2026-11-30Z"), &none));
    assert!(!sat(&day("gt", "2026-12-01Z"), &none));
    assert!(sat(&day("neq", "2026-12-02+00:00"), &none));
    // A zone-less date around the instant: indeterminate, unless every reading of its
    // zone gives the same answer.
    assert!(unknown(&day("eq", "2026-12-01"), &none));
    assert!(unknown(&day("lt", "2026-12-02"), &none));
    assert!(unknown(&day("lteq", "2026-12-01"), &none), "the day may end at 10:00Z");
    let morning = ctx(&[("odrl:dateTime", at("2026-12-01T09:00:00Z"))]);
    assert!(
        sat(&day("lteq", "2026-12-01"), &morning),
        "before the day's end in every zone"
    );
    assert!(!sat(&day("gt", "2026-12-01"), &morning));
    let evening = ctx(&[("odrl:dateTime", at("2026-12-01T15:00:00Z"))]);
    assert!(
        sat(&day("gteq", "2026-12-01"), &evening),
        "after the day's start in every zone"
    );
    assert!(!sat(&day("lt", "2026-12-01"), &evening));
    assert!(sat(&day("lt", "2026-12-05"), &none));
    assert!(!sat(&day("gt", "2026-12-05"), &none));
    let late = ctx(&[("odrl:dateTime", at("2026-12-01T23:00:00Z"))]);
    assert!(sat(&day("lteq", "2026-12-01Z"), &late));
    assert!(!sat(&day("lteq", "2026-11-30Z"), &late));
}

#[test]
fn set_operators_are_pinned() {
    let c = ctx(&[
        ("odrl:purpose", Literal::List(vec![s("research"), s("teaching")])),
        ("odrl:language", s("en")),
    ]);
    let op = |left: &str, op: &str, right: &str| {
        format!(r#"{{"leftOperand":"{left}","operator":"odrl:{op}","rightOperand":{right}}}"#)
    };
    assert!(sat(&op("odrl:purpose", "isAnyOf", r#"["research","marketing"]"#), &c));
    assert!(!sat(&op("odrl:purpose", "isAnyOf", r#"["marketing"]"#), &c));
    assert!(sat(&op("odrl:purpose", "isNoneOf", r#"["marketing"]"#), &c));
    assert!(!sat(&op("odrl:purpose", "isNoneOf", r#"["teaching"]"#), &c));
    assert!(sat(&op("odrl:purpose", "isAllOf", r#"["research","teaching"]"#), &c));
    assert!(sat(&op("odrl:purpose", "isAllOf", r#"["research"]"#), &c));
    assert!(!sat(&op("odrl:purpose", "isAllOf", r#"["research","marketing"]"#), &c));
    assert!(sat(&op("odrl:purpose", "hasPart", r#""teaching""#), &c));
    assert!(!sat(&op("odrl:purpose", "isPartOf", r#"["research"]"#), &c));
    assert!(sat(
        &op("odrl:purpose", "isPartOf", r#"["research","teaching","x"]"#),
        &c
    ));
    assert!(sat(&op("odrl:language", "isAnyOf", r#"["en","fr"]"#), &c));
    assert!(sat(&op("odrl:language", "isPartOf", r#"["en","fr"]"#), &c));
    assert!(!sat(&op("odrl:language", "isNoneOf", r#"["en","fr"]"#), &c));
    // A list does not compare with eq.
    assert!(unknown(&op("odrl:purpose", "eq", r#""research""#), &c));
    let typed = ctx(&[(
        "ex:class",
        Literal::List(vec![Literal::Iri("ex:Doc".into()), Literal::Iri("ex:Report".into())]),
    )]);
    assert!(sat(&op("ex:class", "isA", r#"{"@id":"ex:Report"}"#), &typed));
    assert!(!sat(&op("ex:class", "isA", r#"{"@id":"ex:Image"}"#), &typed));
    assert!(unknown(&op("ex:class", "isA", r#""ex:Report""#), &typed));
}

#[test]
fn logical_constraints_are_three_valued() {
    let c = ctx(&[("odrl:count", n("5"))]);
    let t = r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":5}"#;
    let f = r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":6}"#;
    let u = r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"x"}"#;
    let l = |op: &str, xs: &[&str]| format!(r#"{{"{op}":[{}]}}"#, xs.join(","));
    assert!(sat(&l("and", &[t, t]), &c));
    assert!(!sat(&l("and", &[t, f, u]), &c));
    assert!(unknown(&l("and", &[t, u]), &c));
    assert!(sat(&l("or", &[f, u, t]), &c));
    assert!(unknown(&l("or", &[f, u]), &c));
    assert!(!sat(&l("or", &[f, f]), &c));
    assert!(sat(&l("xone", &[t, f]), &c));
    assert!(!sat(&l("xone", &[t, t, u]), &c));
    assert!(unknown(&l("xone", &[t, u]), &c));
    assert!(!sat(&l("xone", &[f, f]), &c));
    assert!(sat(&l("andSequence", &[t, t]), &c));
    // Several constraints on a rule: all must hold.
    assert!(!sat(&format!("[{t},{f}]"), &c));
    assert!(unknown(&format!("[{t},{u}]"), &c));
    assert!(
        !sat(&format!("[{u},{f}]"), &c),
        "a false constraint decides before an unknown one"
    );
    assert!(sat(&l("and", &[&l("or", &[f, t]), &l("xone", &[t, f])]), &c));
}

#[test]
fn refinements_are_part_of_the_condition() {
    let c = r#"{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":5}"#;
    let r = r#"{"leftOperand":"odrl:resolution","operator":"odrl:lteq","rightOperand":1200}"#;
    let both = Condition::of(Attributes {
        constraint: Some(("constraint", c)),
        refinement: Some(("refinement", r)),
        ..Attributes::default()
    })
    .unwrap()
    .unwrap();
    assert!(both.text.starts_with(r#"{"constraint":{"#) && both.text.contains(r#""refinement":{"#));
    assert_eq!(Condition::parse_stored("condition", &both.text).unwrap(), both);
    let only = Condition::of(Attributes {
        refinement: Some(("refinement", r)),
        ..Attributes::default()
    })
    .unwrap()
    .unwrap();
    assert!(only.constraints.is_empty() && only.text.starts_with(r#"{"refinement":"#));
    assert_eq!(Condition::parse_stored("condition", &only.text).unwrap(), only);
    let plain = Condition::of(Attributes {
        constraint: Some(("constraint", c)),
        ..Attributes::default()
    })
    .unwrap()
    .unwrap();
    assert_eq!(plain, cond(c));
    assert_eq!(Condition::parse_stored("condition", &plain.text).unwrap(), plain);
    assert!(
        Condition::of(Attributes {
            ..Attributes::default()
        })
        .unwrap()
        .is_none()
    );
    assert!(
        Condition::of(Attributes {
            refinement: Some(("refinement", "[]")),
            ..Attributes::default()
        })
        .is_err()
    );
    let at = parse_date_time("2026-12-01T12:00:00Z").unwrap().0;
    let fine = ctx(&[("odrl:count", n("1")), ("odrl:resolution", n("800"))]);
    assert_eq!(
        both.evaluate(&fine, &mut Now::at(at), &Party::NOBODY),
        Verdict::Satisfied
    );
    let coarse = ctx(&[("odrl:count", n("1")), ("odrl:resolution", n("4000"))]);
    match both.evaluate(&coarse, &mut Now::at(at), &Party::NOBODY) {
        Verdict::NotSatisfied { constraint } => assert!(constraint.starts_with("refinement "), "{constraint}"),
        v => panic!("{v:?}"),
    }
    assert_eq!(both.truth(&coarse, &mut Now::at(at), &Party::NOBODY), Truth::False);
    assert_eq!(
        both.truth(&ctx(&[("odrl:count", n("1"))]), &mut Now::at(at), &Party::NOBODY),
        Truth::Unknown
    );
}

#[test]
fn duties_are_preconditions_fulfilled_by_a_discharge_or_the_context() {
    let duty = |json: &str| {
        Condition::of(Attributes {
            duty: Some(("duty", json)),
            ..Attributes::default()
        })
        .unwrap()
        .unwrap()
    };
    let pay = duty(r#"{"uid":"pay-1","action":"odrl:compensate"}"#);
    assert_eq!(
        &*pay.text,
        r#"{"duty":{"action":"http://www.w3.org/ns/odrl/2/compensate","uid":"pay-1"}}"#
    );
    assert_eq!(Condition::parse_stored("condition", &pay.text).unwrap(), pay);
    let at = parse_date_time("2026-12-01T12:00:00Z").unwrap().0;
    let none = Context::default();
    let ann_paid = |uid: &str, by: &str| uid == "pay-1" && by == "ann";
    let ann = Party {
        agent: "ann",
        discharged: &ann_paid,
    };
    let bob = Party {
        agent: "bob",
        discharged: &ann_paid,
    };
    assert_eq!(pay.truth(&none, &mut Now::at(at), &ann), Truth::True);
    assert_eq!(
        pay.truth(&none, &mut Now::at(at), &bob),
        Truth::False,
        "ann's payment is not bob's"
    );
    match pay.evaluate(&none, &mut Now::at(at), &bob) {
        Verdict::NotSatisfied { constraint } => assert!(constraint.contains("pay-1"), "{constraint}"),
        v => panic!("{v:?}"),
    }
    // The caller vouches for it in the context.
    let vouched = ctx(&[(FULFILLED, Literal::List(vec![s("pay-1")]))]);
    assert_eq!(pay.truth(&vouched, &mut Now::at(at), &bob), Truth::True);
    // A duty for a named assignee is discharged by that assignee.
    let by_ann = duty(r#"{"uid":"pay-1","action":"odrl:compensate","assignee":"ann"}"#);
    assert_eq!(by_ann.truth(&none, &mut Now::at(at), &bob), Truth::True);
    // An inactive duty (its constraint fails) does not block; an unknown one does.
    let weekend = duty(
        r#"{"uid":"w","action":"odrl:compensate","constraint":{"leftOperand":"ex:weekend","operator":"odrl:eq","rightOperand":true}}"#,
    );
    let weekday = ctx(&[("ex:weekend", Literal::Boolean(false))]);
    assert_eq!(weekend.truth(&weekday, &mut Now::at(at), &bob), Truth::True);
    assert_eq!(weekend.truth(&none, &mut Now::at(at), &bob), Truth::False);
    // Constraints still come first: a duty cannot make an unknown constraint true.
    let both = Condition::of(Attributes {
        constraint: Some((
            "constraint",
            r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"x"}"#,
        )),
        duty: Some(("duty", r#"{"uid":"pay-1","action":"odrl:compensate"}"#)),
        ..Attributes::default()
    })
    .unwrap()
    .unwrap();
    assert_eq!(both.truth(&none, &mut Now::at(at), &ann), Truth::Unknown);
    for bad in [
        r#"{"action":"odrl:compensate"}"#,
        r#"{"uid":"x"}"#,
        r#"[{"uid":"x","action":"odrl:compensate"},{"uid":"x","action":"odrl:attribute"}]"#,
        r#"{"uid":"x","action":"odrl:compensate","when":"now"}"#,
        r#"{"uid":"*","action":"odrl:compensate"}"#,
        r#"{"uid":"x","action":"odrl:compensate","consequence":"pay more"}"#,
        "[]",
    ] {
        assert!(
            Condition::of(Attributes {
                duty: Some(("duty", bad)),
                ..Attributes::default()
            })
            .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn verdicts_fail_closed_by_kind() {
    let u = Verdict::Unknown {
        constraint: "c".into(),
        why: "w".into(),
    };
    assert!(!u.applies(false), "an unknown constraint keeps a permission out");
    assert!(u.applies(true), "an unknown constraint lets a prohibition in");
    let f = Verdict::NotSatisfied { constraint: "c".into() };
    assert!(!f.applies(false) && !f.applies(true));
    assert!(Verdict::Satisfied.applies(false) && Verdict::Satisfied.applies(true));
}

#[test]
fn units_must_match() {
    let c = r#"{"leftOperand":"odrl:payAmount","operator":"odrl:lteq","rightOperand":10,"unit":"http://dbpedia.org/resource/Euro"}"#;
    let mut with = Context::default();
    with.insert("odrl:payAmount", n("9.99"), Some("http://dbpedia.org/resource/Euro"))
        .unwrap();
    assert!(sat(c, &with));
    let mut other = Context::default();
    other
        .insert("odrl:payAmount", n("9.99"), Some("http://dbpedia.org/resource/Dollar"))
        .unwrap();
    assert!(unknown(c, &other));
    assert!(unknown(c, &ctx(&[("odrl:payAmount", n("9.99"))])));
}

#[test]
fn context_keys_are_normalised() {
    let mut c = Context::default();
    c.insert("http://www.w3.org/ns/odrl/2/purpose", s("research"), None)
        .unwrap();
    assert!(sat(
        r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#,
        &c
    ));
    assert!(c.insert("purpose", s("x"), None).is_err());
    assert!(
        c.insert("odrl:purpose", Literal::List(vec![s("x"); MAX_SET + 1]), None)
            .is_err()
    );
}
