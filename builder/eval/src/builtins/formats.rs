//! Data formats: `fromJSON`, `fromTOML` and `toXML`.

use crate::error::{err, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::{Attr, Attrs, Context, Value};

pub(super) fn json_to_value(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::string(s),
        serde_json::Value::Array(a) => Value::list(a.into_iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::attrs(Attrs::from_unsorted(
            o.into_iter()
                .map(|(k, v)| Attr {
                    name: k.into(),
                    value: json_to_value(v),
                    pos: Pos::NONE,
                })
                .collect(),
        )),
    }
}

pub(super) fn prim_from_json(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string_noctx(a[0].clone(), p)?;
    match serde_json::from_str::<serde_json::Value>(&negative_zero_as_zero(&s)) {
        Ok(j) => Ok(json_to_value(j)),
        // Worded after Nix's parser (nlohmann's), whose exception name
        // nixpkgs lib's tests look for.
        Err(e) => {
            let what = e.to_string();
            let what = what
                .rsplit_once(" at line ")
                .map_or(what.as_str(), |(w, _)| w)
                .to_owned();
            err(
                format!(
                    "[json.exception.parse_error.101] parse error at line {}, column {}: syntax error while parsing value - {what}",
                    e.line(),
                    e.column().max(1)
                ),
                p,
            )
        }
    }
}

/// `-0` written as an integer is the integer 0 in Nix's parser (nlohmann's);
/// serde_json reads it as the float -0.0 (to keep the sign), so such tokens
/// become ` 0` first: the same length, so error columns stay right. Only a
/// `-0` where a value starts (after `[`, `,`, `:` or at the start, outside
/// strings) and not followed by more of a number is one; `1e-0` is not.
fn negative_zero_as_zero(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    // The last byte outside strings and whitespace: what comes before a token.
    let mut before = b'[';
    for (i, &c) in b.iter().enumerate() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'-' if matches!(before, b'[' | b',' | b':')
                && b.get(i + 1) == Some(&b'0')
                && !matches!(b.get(i + 2), Some(b'0'..=b'9' | b'.' | b'e' | b'E')) =>
            {
                found.push(i);
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            before = c;
        }
    }
    if found.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = b.to_vec();
    for i in found {
        out[i] = b' ';
    }
    // Only an ASCII '-' was replaced by an ASCII space.
    std::borrow::Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| text.to_owned()))
}

pub(super) fn toml_to_value(t: toml::Value) -> Value {
    match t {
        toml::Value::String(s) => Value::string(s),
        toml::Value::Integer(i) => Value::Int(i),
        toml::Value::Float(f) => Value::Float(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::string(d.to_string()),
        toml::Value::Array(a) => Value::list(a.into_iter().map(toml_to_value).collect()),
        toml::Value::Table(t) => Value::attrs(Attrs::from_unsorted(
            t.into_iter()
                .map(|(k, v)| Attr {
                    name: k.into(),
                    value: toml_to_value(v),
                    pos: Pos::NONE,
                })
                .collect(),
        )),
    }
}

pub(super) fn prim_from_toml(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string_noctx(a[0].clone(), p)?;
    match s.parse::<toml::Table>() {
        Ok(t) => Ok(toml_to_value(toml::Value::Table(t))),
        Err(e) => err(format!("while parsing a TOML string: {e}"), p),
    }
}

pub(super) fn prim_to_xml(ev: &mut Evaluator, a: &[Value], _: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let out = crate::xml::to_xml(ev, a[0].clone(), true, false, &mut ctx)?;
    Ok(Value::string_ctx(out, ctx))
}
