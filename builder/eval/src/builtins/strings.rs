//! Builtins over strings: versions, regular expressions (POSIX ERE, as
//! Nix's), replacing, context, and hashing.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::{err, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::{Attr, Attrs, Context, NixString, Obj, Value};

/// Splits a version string into components as Nix's `splitVersion` does.
pub(super) fn split_version(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '.' || c == '-' {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            while i < b.len() && !b[i].is_ascii_digit() && b[i] != '.' && b[i] != '-' {
                i += 1;
            }
        }
        out.push(b[start..i].iter().collect());
    }
    out
}

pub(super) fn component_lt(c1: &str, c2: &str) -> bool {
    let n1 = c1.parse::<u64>().ok();
    let n2 = c2.parse::<u64>().ok();
    match (n1, n2) {
        (Some(a), Some(b)) => a < b,
        _ => {
            if (c1.is_empty() && n2.is_some()) || (c1 == "pre" && c2 != "pre") {
                true
            } else if c2 == "pre" || n1.is_some() {
                false
            } else if n2.is_some() {
                true
            } else {
                c1 < c2
            }
        }
    }
}

pub(crate) fn compare_versions(a: &str, b: &str) -> i64 {
    let va = split_version(a);
    let vb = split_version(b);
    let n = va.len().max(vb.len());
    for i in 0..n {
        let c1 = va.get(i).map(String::as_str).unwrap_or("");
        let c2 = vb.get(i).map(String::as_str).unwrap_or("");
        if component_lt(c1, c2) {
            return -1;
        }
        if component_lt(c2, c1) {
            return 1;
        }
    }
    0
}

pub(super) fn prim_compare_versions(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let x = ev.force_string_noctx(a[0].clone(), p)?;
    let y = ev.force_string_noctx(a[1].clone(), p)?;
    Ok(Value::Int(compare_versions(&x, &y)))
}

pub(super) fn prim_split_version(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let x = ev.force_string_noctx(a[0].clone(), p)?;
    Ok(Value::list(
        split_version(&x).into_iter().map(Value::string).collect(),
    ))
}

pub(super) fn prim_concat_strings_sep(
    ev: &mut Evaluator,
    a: &[Value],
    p: Pos,
) -> EvalResult<Value> {
    let sep = ev.force_string(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut ctx = sep.ctx.clone();
    let mut out = String::new();
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep.s);
        }
        ev.coerce_into(&mut out, x.clone(), &mut ctx, false, true, p)?;
    }
    Ok(Value::string_ctx(out, ctx))
}

pub(crate) fn get_regex(ev: &mut Evaluator, re: &str, p: Pos) -> EvalResult<Rc<regex::Regex>> {
    if let Some(r) = ev.regex_cache.get(re) {
        return Ok(r.clone());
    }
    let r = match regex::Regex::new(&format!("(?s)^(?:{})$", translate_posix(re))) {
        Ok(r) => Rc::new(r),
        Err(_) => return err(format!("invalid regular expression '{re}'"), p),
    };
    ev.regex_cache.insert(re.to_string(), r.clone());
    Ok(r)
}

/// POSIX ERE to Rust regex: character classes like `[[:alpha:]]` work in
/// both; a leading `]` in a bracket and unescaped `{` differ.
pub(super) fn translate_posix(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let chars: Vec<char> = re.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '[' {
            // Copy a bracket expression, escaping what Rust treats specially.
            out.push('[');
            i += 1;
            if i < chars.len() && chars[i] == '^' {
                out.push('^');
                i += 1;
            }
            if i < chars.len() && chars[i] == ']' {
                out.push_str("\\]");
                i += 1;
            }
            while i < chars.len() && chars[i] != ']' {
                if chars[i] == '[' && i + 1 < chars.len() && chars[i + 1] == ':' {
                    if let Some(end) = re[..].chars().skip(i).collect::<String>().find(":]") {
                        let s: String = chars[i..i + end + 2].iter().collect();
                        out.push_str(&s);
                        i += end + 2;
                        continue;
                    }
                }
                match chars[i] {
                    '\\' => out.push_str("\\\\"),
                    '[' => out.push_str("\\["),
                    '&' | '~' | '-' if false => {}
                    ch => out.push(ch),
                }
                i += 1;
            }
            out.push(']');
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

pub(super) fn prim_match(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let re = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_string(a[1].clone(), p)?;
    let r = get_regex(ev, &re, p)?;
    match r.captures(&s.s) {
        Some(c) => Ok(Value::list(
            (1..c.len())
                .map(|i| match c.get(i) {
                    Some(m) => Value::string(m.as_str()),
                    None => Value::Null,
                })
                .collect(),
        )),
        None => Ok(Value::Null),
    }
}

pub(super) fn prim_split(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let re = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_string(a[1].clone(), p)?;
    let r = match regex::Regex::new(&format!("(?s){}", translate_posix(&re))) {
        Ok(r) => r,
        Err(_) => return err(format!("invalid regular expression '{re}'"), p),
    };
    let mut out = Vec::new();
    let mut last = 0;
    for c in r.captures_iter(&s.s) {
        let m = c.get(0).expect("group 0 always matches");
        out.push(Value::string(&s.s[last..m.start()]));
        out.push(Value::list(
            (1..c.len())
                .map(|i| match c.get(i) {
                    Some(m) => Value::string(m.as_str()),
                    None => Value::Null,
                })
                .collect(),
        ));
        last = m.end();
    }
    out.push(Value::string(&s.s[last..]));
    Ok(Value::list(out))
}

pub(super) fn prim_parse_drv_name(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string_noctx(a[0].clone(), p)?;
    let b = s.as_bytes();
    let mut split = None;
    for i in 0..b.len() {
        if b[i] == b'-' && i + 1 < b.len() && !b[i + 1].is_ascii_alphabetic() {
            split = Some(i);
            break;
        }
    }
    let (name, version) = match split {
        Some(i) => (s[..i].to_string(), s[i + 1..].to_string()),
        None => (s.clone(), String::new()),
    };
    Ok(Value::attrs(Attrs::from_sorted(vec![
        Attr {
            name: "name".into(),
            value: Value::string(name),
            pos: Pos::NONE,
        },
        Attr {
            name: "version".into(),
            value: Value::string(version),
            pos: Pos::NONE,
        },
    ])))
}

pub(super) fn prim_replace_strings(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let from = ev.force_list(a[0].clone(), p)?;
    let to = ev.force_list(a[1].clone(), p)?;
    if from.len() != to.len() {
        return err(
            "'from' and 'to' arguments to 'replaceStrings' have different lengths",
            p,
        );
    }
    let s = ev.force_string(a[2].clone(), p)?;
    let mut froms = Vec::new();
    for f in from.iter() {
        froms.push(ev.force_string(f.clone(), p)?);
    }
    let mut tos: Vec<Option<Obj<NixString>>> = vec![None; to.len()];
    let mut ctx = s.ctx.clone();
    let mut out = String::new();
    let bytes = s.s.as_bytes();
    let mut i = 0;
    loop {
        let mut matched = false;
        for (k, f) in froms.iter().enumerate() {
            if bytes[i..].starts_with(f.s.as_bytes()) {
                if tos[k].is_none() {
                    tos[k] = Some(ev.force_string(to[k].clone(), p)?);
                }
                let t = tos[k].as_ref().expect("just filled");
                out.push_str(&t.s);
                ctx.extend(t.ctx.iter().cloned());
                matched = true;
                if f.s.is_empty() {
                    if i < bytes.len() {
                        let ch = s.s[i..].chars().next().expect("i is below the length");
                        out.push(ch);
                        i += ch.len_utf8();
                    } else {
                        return Ok(Value::string_ctx(out, ctx));
                    }
                } else {
                    i += f.s.len();
                }
                break;
            }
        }
        if !matched {
            if i >= bytes.len() {
                break;
            }
            let ch = s.s[i..].chars().next().expect("i is below the length");
            out.push(ch);
            i += ch.len_utf8();
        }
        if i >= bytes.len() && !froms.iter().any(|f| f.s.is_empty()) {
            break;
        }
    }
    Ok(Value::string_ctx(out, ctx))
}

pub(super) fn prim_substring(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let start = ev.force_int(a[0].clone(), p)?;
    let len = ev.force_int(a[1].clone(), p)?;
    let mut ctx = Context::new();
    let s = ev.coerce_to_string(a[2].clone(), &mut ctx, false, true, p)?;
    if start < 0 {
        return err("negative start position in 'substring'", p);
    }
    let b = s.as_bytes();
    let start = (start as usize).min(b.len());
    let end = if len < 0 {
        b.len()
    } else {
        start.saturating_add(len as usize).min(b.len())
    };
    let sub = String::from_utf8_lossy(&b[start..end]).into_owned();
    Ok(Value::string_ctx(sub, ctx))
}

pub(super) fn prim_get_context(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string(a[0].clone(), p)?;
    // path → (path?, allOutputs?, outputs)
    let mut m: BTreeMap<String, (bool, bool, Vec<String>)> = BTreeMap::new();
    for c in &s.ctx {
        if let Some(rest) = c.strip_prefix('=') {
            m.entry(rest.to_string()).or_default().1 = true;
        } else if let Some(rest) = c.strip_prefix('!') {
            if let Some((out, path)) = rest.split_once('!') {
                m.entry(path.to_string())
                    .or_default()
                    .2
                    .push(out.to_string());
            }
        } else {
            m.entry(c.clone()).or_default().0 = true;
        }
    }
    let attrs = m
        .into_iter()
        .map(|(path, (is_path, all, outs))| {
            let mut inner = Vec::new();
            if all {
                inner.push(Attr {
                    name: "allOutputs".into(),
                    value: Value::Bool(true),
                    pos: Pos::NONE,
                });
            }
            if !outs.is_empty() {
                inner.push(Attr {
                    name: "outputs".into(),
                    value: Value::list(outs.into_iter().map(Value::string).collect()),
                    pos: Pos::NONE,
                });
            }
            if is_path {
                inner.push(Attr {
                    name: "path".into(),
                    value: Value::Bool(true),
                    pos: Pos::NONE,
                });
            }
            Attr {
                name: path.into(),
                value: Value::attrs(Attrs::from_unsorted(inner)),
                pos: Pos::NONE,
            }
        })
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(attrs)))
}

pub(super) fn prim_append_context(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string(a[0].clone(), p)?;
    let c = ev.force_attrs(a[1].clone(), p)?;
    let mut ctx = s.ctx.clone();
    for at in c.iter() {
        let info = ev.force_attrs(at.value.clone(), p)?;
        if let Some(v) = info.get("path") {
            if ev.expect_bool(v.clone(), p)? {
                ctx.insert(at.name.to_string());
            }
        }
        if let Some(v) = info.get("allOutputs") {
            if ev.expect_bool(v.clone(), p)? {
                ctx.insert(format!("={}", at.name));
            }
        }
        if let Some(v) = info.get("outputs") {
            let outs = ev.force_list(v.clone(), p)?;
            for o in outs.iter() {
                let o = ev.force_string_noctx(o.clone(), p)?;
                ctx.insert(format!("!{o}!{}", at.name));
            }
        }
    }
    Ok(Value::string_ctx(s.s.clone(), ctx))
}

pub(crate) fn hash_bytes(algo: &str, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    Some(match algo {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

pub(super) fn prim_hash_string(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let algo = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_string(a[1].clone(), p)?;
    match hash_bytes(&algo, s.s.as_bytes()) {
        Some(h) => Ok(Value::string(hex::encode(h))),
        None => err(format!("unknown hash algorithm '{algo}'"), p),
    }
}
