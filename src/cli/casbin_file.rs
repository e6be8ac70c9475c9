//! Casbin policy files (`policy.csv`) for Pericarp's model: written by `endocarp export
//! casbin`, read by `endocarp import casbin`. RFC 4180 quoting, so identifiers with commas,
//! quotes or edge spaces survive a round trip (casbin's own loaders trim and do not
//! unescape). A file format, not part of any engine.

/// One line of a casbin policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyLine {
    /// `p, sub, dom, act, obj, eft`
    P([String; 5]),
    /// `g, node, role, dom`
    G([String; 3]),
}

/// Writes one RFC 4180 field: quoted when it holds a comma, a quote, a line break or
/// leading or trailing white space (casbin's own loader would trim it), quotes doubled.
fn csv_field(out: &mut String, field: &str) {
    let needs = field.is_empty()
        || field.contains([',', '"', '\n', '\r'])
        || field.starts_with(char::is_whitespace)
        || field.ends_with(char::is_whitespace);
    if needs {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// The policy file for `p` and `g` rows (RFC 4180 quoting, `\n` line ends).
pub fn policy_csv(p_rows: &[[String; 5]], g_rows: &[[String; 3]]) -> String {
    let mut out = String::new();
    let mut line = |kind: &str, fields: &[String]| {
        out.push_str(kind);
        for f in fields {
            out.push(',');
            csv_field(&mut out, f);
        }
        out.push('\n');
    };
    for r in p_rows {
        line("p", r);
    }
    for r in g_rows {
        line("g", r);
    }
    out
}

/// Splits one RFC 4180 record. Unquoted fields are trimmed (casbin files are usually
/// written `p, alice, …`); quoted fields are kept exactly, with `""` unescaped.
fn split_record(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected {c:?} after a quoted field")),
            }
        } else {
            let mut ended = true;
            for c in chars.by_ref() {
                if c == ',' {
                    ended = false;
                    break;
                }
                if c == '"' {
                    return Err("a quote inside an unquoted field".into());
                }
                field.push(c);
            }
            fields.push(field.trim().to_string());
            if ended {
                return Ok(fields);
            }
        }
    }
}

/// Parses a policy file for this model. Blank lines and `#` comments are skipped; an error
/// names its line.
pub fn parse_policy_csv(text: &str) -> Result<Vec<(usize, PolicyLine)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = split_record(raw).map_err(|e| format!("line {line_no}: {e}"))?;
        let kind = fields[0].as_str();
        let rest = &fields[1..];
        let parsed = match (kind, rest.len()) {
            ("p", 5) => PolicyLine::P([
                rest[0].clone(),
                rest[1].clone(),
                rest[2].clone(),
                rest[3].clone(),
                rest[4].clone(),
            ]),
            ("g", 3) => PolicyLine::G([rest[0].clone(), rest[1].clone(), rest[2].clone()]),
            ("p", n) => {
                return Err(format!(
                    "line {line_no}: a p row has 5 fields (sub, dom, act, obj, eft), found {n}"
                ));
            }
            ("g", n) => {
                return Err(format!(
                    "line {line_no}: a g row has 3 fields (user, role, domain), found {n}"
                ));
            }
            (k, _) => return Err(format!("line {line_no}: unknown row type {k:?} (expected p or g)")),
        };
        out.push((line_no, parsed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
