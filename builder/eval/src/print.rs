//! Printing values as `nix-instantiate --eval` does, and float formatting
//! as C++ streams do (`%g`, six significant digits).

use std::collections::HashSet;
use std::fmt::Write;

use crate::error::{EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::Value;

/// Formats a float like C++ `std::ostream << double` (precision 6, `%g`).
pub fn fmt_float(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:.5e}");
    let (mant, exp) = sci.split_once('e').expect("{:e} output has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if !(-4..6).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim_zeros(&format!("{f:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Escapes a string as a Nix string literal.
pub fn escape_string(s: &str, out: &mut String) {
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
}

// Nix 2.8 quotes only `if` among the keywords when printing attribute names.
const KEYWORDS: &[&str] = &["if"];

/// Whether an attribute name prints without quotes.
pub fn is_plain_ident(s: &str) -> bool {
    let mut cs = s.chars();
    match cs.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\'' || c == '-')
        && !KEYWORDS.contains(&s)
}

/// An attribute name as Nix prints it (in values and in messages): bare if
/// it is a plain identifier, else quoted, with every `$` escaped.
pub fn attr_name(name: &str) -> std::borrow::Cow<'_, str> {
    if is_plain_ident(name) {
        return name.into();
    }
    let mut q = String::new();
    escape_string(name, &mut q);
    q.replace("\\$", "$").replace('$', "\\$").into()
}

/// Prints a value; thunks not yet forced print as `<CODE>` unless `force` is set.
pub fn print_value(ev: &mut Evaluator, v: Value, force: bool) -> EvalResult<String> {
    let mut out = String::new();
    let mut seen = HashSet::new();
    print_rec(ev, v, force, &mut out, &mut seen)?;
    Ok(out)
}

fn print_rec(
    ev: &mut Evaluator,
    v: Value,
    force: bool,
    out: &mut String,
    seen: &mut HashSet<usize>,
) -> EvalResult<()> {
    // The cell the value lives in: Nix keeps lists of one or two elements
    // inside the value itself, so such a list repeats only where the same
    // cell is met again, not wherever the same list was copied.
    let cell = match &v {
        Value::Thunk(t) => Some(crate::value::Obj::as_ptr(t) as usize),
        _ => None,
    };
    let v = if force {
        ev.force(v)?
    } else {
        match &v {
            Value::Thunk(t) => match t.done() {
                Some(d) => d,
                None => {
                    out.push_str("<CODE>");
                    return Ok(());
                }
            },
            _ => v,
        }
    };
    match &v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&fmt_float(*f)),
        Value::Str(s) => escape_string(&s.s, out),
        Value::Path(p) => out.push_str(p),
        Value::Attrs(a) => {
            if !a.is_empty() && !seen.insert(crate::value::Obj::as_ptr(a) as usize) {
                out.push_str("«repeated»");
                return Ok(());
            }
            out.push_str("{ ");
            for at in a.iter() {
                out.push_str(&attr_name(&at.name));
                out.push_str(" = ");
                print_rec(ev, at.value.clone(), force, out, seen)?;
                out.push_str("; ");
            }
            out.push('}');
        }
        Value::List(l) => {
            let key = match cell {
                Some(c) if l.len() <= 2 => c,
                _ => crate::value::Obj::as_ptr(l) as usize,
            };
            if !l.is_empty() && !seen.insert(key) {
                out.push_str("«repeated»");
                return Ok(());
            }
            out.push_str("[ ");
            for x in l.iter() {
                print_rec(ev, x.clone(), force, out, seen)?;
                out.push(' ');
            }
            out.push(']');
        }
        Value::Lambda(_) => out.push_str("<LAMBDA>"),
        Value::PrimOp(_) => out.push_str("<PRIMOP>"),
        Value::PrimOpApp(..) => out.push_str("<PRIMOP-APP>"),
        Value::Thunk(_) => out.push_str("<CODE>"),
    }
    Ok(())
}

/// Converts a value to JSON text as `builtins.toJSON` does; paths are copied to the store.
pub fn to_json(
    ev: &mut Evaluator,
    v: Value,
    ctx: &mut crate::value::Context,
    pos: Pos,
) -> EvalResult<String> {
    let mut out = String::new();
    json_rec(ev, v, ctx, pos, &mut out)?;
    Ok(out)
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One level deeper, counted like calls: a value that contains itself ends
/// in Nix's stack-overflow error, not a crash.
fn json_rec(
    ev: &mut Evaluator,
    v: Value,
    ctx: &mut crate::value::Context,
    pos: Pos,
    out: &mut String,
) -> EvalResult<()> {
    ev.enter(pos)?;
    let r = json_value(ev, v, ctx, pos, out);
    ev.leave();
    r
}

fn json_value(
    ev: &mut Evaluator,
    v: Value,
    ctx: &mut crate::value::Context,
    pos: Pos,
    out: &mut String,
) -> EvalResult<()> {
    let v = ev.force(v)?;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&json_float(f)),
        Value::Str(s) => {
            ctx.extend(s.ctx.iter().cloned());
            json_string(&s.s, out)
        }
        Value::Path(p) => {
            let sp = ev.copy_path_to_store(&p, pos)?;
            ctx.insert(sp.clone());
            json_string(&sp, out)
        }
        Value::Attrs(a) => {
            if let Some(f) = a.get("__toString").cloned() {
                let _ = f;
                let s = ev.coerce_to_string(Value::Attrs(a.clone()), ctx, false, true, pos)?;
                json_string(&s, out);
                return Ok(());
            }
            if let Some(o) = a.get("outPath").cloned() {
                return json_rec(ev, o, ctx, pos, out);
            }
            out.push('{');
            for (i, at) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(&at.name, out);
                out.push(':');
                json_rec(ev, at.value.clone(), ctx, pos, out)?;
            }
            out.push('}');
        }
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_rec(ev, x.clone(), ctx, pos, out)?;
            }
            out.push(']');
        }
        other => {
            return crate::error::err(format!("cannot convert {} to JSON", other.show_type()), pos)
        }
    }
    Ok(())
}

/// Floats in JSON, as Nix 2.8 writes them.
pub fn json_float(f: f64) -> String {
    // Nix 2.8 writes JSON floats through a C++ stream too: `%g`, six digits.
    fmt_float(f)
}

/// Removes ANSI escape sequences (`ESC [ … final`, and any other escape
/// character), as Nix does to what it prints when stderr is not a terminal.
pub fn strip_ansi(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameter and intermediate bytes, then one final byte.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}
