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
    match serde_json::from_str::<serde_json::Value>(&s) {
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
