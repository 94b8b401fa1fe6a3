//! `builtins.fetchGit` and `builtins.fetchTree` (types `git`, `path` and
//! `tarball`), as Nix 2.8's `primops/fetchTree.cc`: the argument becomes
//! input attributes, each type checks its own, the host fetches, and the
//! result carries `outPath`, `narHash` and what the type knows (`rev`,
//! `shortRev`, `revCount`, `lastModified`, `lastModifiedDate`, `submodules`).
//!
//! A string argument is read as Nix 2.8 reads it (`path:///…`,
//! `git+file:///…?ref=…&rev=…`, a tarball URL); other flake references
//! (`github:`, registry names) are unsupported, as they are in Nix 2.8
//! without a registry. Differences from Nix: `fetchTree` needs no
//! experimental feature (b8g has none to enable), and Git fetches only local
//! repositories (see [`super::git`]).

use std::collections::BTreeMap;

use b8g_eval::builtins::{mk_attrs, str_value};
use b8g_eval::error::err;
use b8g_eval::{Context, EvalResult, Evaluator, Pos, Value};
use b8g_store::format::hash::{Hash, HashAlgo};

use super::git::{self, GitInput};
use super::host::FetchRequest;
use super::trees::FetchedTree;

/// An input attribute's value (Nix's `fetchers::Attr`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attr {
    Str(String),
    Bool(bool),
    Int(u64),
}

type Attrs = BTreeMap<String, Attr>;

pub(crate) fn prim_fetch_git(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let attrs = input_attrs(ev, &a[0], p, Some("git"), true)?;
    fetch_input(ev, attrs, p, true)
}

pub(crate) fn prim_fetch_tree(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let attrs = input_attrs(ev, &a[0], p, None, false)?;
    fetch_input(ev, attrs, p, false)
}

/// `fixURI`: a URL keeps its scheme, anything else is a `file://` path.
fn fix_uri(s: &str) -> String {
    if s.contains("://") {
        s.to_string()
    } else {
        format!("file://{s}")
    }
}

/// `fixURIForGit`: scp-style `user@host:path` becomes an `ssh://` URL.
fn fix_uri_for_git(s: &str) -> String {
    if !s.starts_with('/') && !s.contains("://") {
        if let Some((user, rest)) = s.split_once('@') {
            if !user.contains('/') {
                if let Some((host, path)) = rest.rsplit_once(':') {
                    return format!("ssh://{user}@{host}/{path}");
                }
            }
        }
    }
    fix_uri(s)
}

/// The argument as input attributes, as Nix 2.8's `fetchTree` reads it.
fn input_attrs(
    ev: &mut Evaluator,
    arg: &Value,
    p: Pos,
    fixed_type: Option<&str>,
    allow_name: bool,
) -> EvalResult<Attrs> {
    let v = ev.force(arg.clone())?;
    let mut attrs = Attrs::new();
    let mut ctx = Context::new();
    let Value::Attrs(set) = &v else {
        let url = ev.coerce_to_string(v.clone(), &mut ctx, false, false, p)?;
        return match fixed_type {
            Some("git") => {
                attrs.insert("type".into(), Attr::Str("git".into()));
                attrs.insert("url".into(), Attr::Str(fix_uri_for_git(&url)));
                Ok(attrs)
            }
            _ => attrs_from_url(&fix_uri(&url), p),
        };
    };
    let ty = match (set.get("type").cloned(), fixed_type) {
        (Some(_), Some(_)) => return err("unexpected attribute 'type'", p),
        (Some(t), None) => ev.force_string_without_context(t, p)?,
        (None, Some(t)) => t.to_string(),
        (None, None) => return err("attribute 'type' is missing in call to 'fetchTree'", p),
    };
    attrs.insert("type".into(), Attr::Str(ty.clone()));
    for at in set.iter() {
        let name = &*at.name;
        if name == "type" {
            continue;
        }
        let ap = if at.pos.is_none() { p } else { at.pos };
        let value = ev.force(at.value.clone())?;
        let attr = match &value {
            Value::Str(_) | Value::Path(_) => {
                let s = ev.coerce_to_string(value.clone(), &mut ctx, false, false, ap)?;
                Attr::Str(match name {
                    "url" if ty == "git" => fix_uri_for_git(&s),
                    "url" => fix_uri(&s),
                    _ => s,
                })
            }
            Value::Bool(b) => Attr::Bool(*b),
            // Nix stores the integer as unsigned, wrapping negative ones.
            Value::Int(i) => Attr::Int(*i as u64),
            other => {
                return err(
                    format!(
                        "fetchTree argument '{name}' is {} while a string, Boolean or integer is expected",
                        other.show_type()
                    ),
                    ap,
                )
            }
        };
        attrs.insert(name.to_string(), attr);
    }
    if !allow_name && attrs.contains_key("name") {
        return err("attribute 'name' isn't supported in call to 'fetchTree'", p);
    }
    Ok(attrs)
}

/// Splits `scheme:rest?query#fragment`; the query as decoded pairs.
fn split_url(url: &str) -> (&str, &str, Vec<(String, String)>) {
    let (scheme, rest) = url.split_once(':').unwrap_or(("", url));
    let rest = rest.split('#').next().unwrap_or(rest);
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let pairs = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| {
            let (k, v) = q.split_once('=').unwrap_or((q, ""));
            (percent_decoded(k), percent_decoded(v))
        })
        .collect();
    (scheme, base, pairs)
}

fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Nix 2.8's `Input::fromURL` for the input types b8g fetches: `path:`,
/// `git+file:` (and the other `git+` schemes, refused when fetched) and
/// tarball URLs (`file`, `http`, `https` ending in an archive suffix).
fn attrs_from_url(url: &str, p: Pos) -> EvalResult<Attrs> {
    let (scheme, base, query) = split_url(url);
    let mut attrs = Attrs::new();
    if scheme == "path" {
        let path = base.strip_prefix("//").map_or(base, |rest| {
            let end = rest.find('/').unwrap_or(rest.len());
            &rest[end..]
        });
        let authority = base
            .strip_prefix("//")
            .map(|rest| &rest[..rest.find('/').unwrap_or(rest.len())])
            .unwrap_or("");
        if !authority.is_empty() {
            return err(
                format!("path URL '{url}' should not have an authority ('{authority}')"),
                p,
            );
        }
        attrs.insert("type".into(), Attr::Str("path".into()));
        attrs.insert("path".into(), Attr::Str(percent_decoded(path)));
        for (k, v) in query {
            match k.as_str() {
                "rev" | "narHash" => {
                    attrs.insert(k, Attr::Str(v));
                }
                "revCount" | "lastModified" => match v.parse::<u64>() {
                    Ok(n) => {
                        attrs.insert(k, Attr::Int(n));
                    }
                    Err(_) => {
                        return err(format!("path URL '{url}' has invalid parameter '{k}'"), p)
                    }
                },
                _ => {
                    return err(
                        format!("path URL '{url}' has unsupported parameter '{k}'"),
                        p,
                    )
                }
            }
        }
        return Ok(attrs);
    }
    if matches!(
        scheme,
        "git" | "git+http" | "git+https" | "git+ssh" | "git+file"
    ) {
        let mut rest_query = Vec::new();
        attrs.insert("type".into(), Attr::Str("git".into()));
        for (k, v) in query {
            match k.as_str() {
                "rev" | "ref" => {
                    attrs.insert(k, Attr::Str(v));
                }
                "shallow" | "submodules" => {
                    attrs.insert(k, Attr::Bool(v == "1"));
                }
                _ => rest_query.push(format!("{k}={v}")),
            }
        }
        let scheme = scheme.strip_prefix("git+").unwrap_or(scheme);
        let mut plain = format!("{scheme}:{base}");
        if !rest_query.is_empty() {
            plain.push('?');
            plain.push_str(&rest_query.join("&"));
        }
        attrs.insert("url".into(), Attr::Str(plain));
        return Ok(attrs);
    }
    const ARCHIVES: [&str; 7] = [
        ".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst",
    ];
    if matches!(scheme, "file" | "http" | "https") && ARCHIVES.iter().any(|a| base.ends_with(a)) {
        attrs.insert("type".into(), Attr::Str("tarball".into()));
        attrs.insert("url".into(), Attr::Str(url.to_string()));
        if let Some((_, h)) = query.iter().find(|(k, _)| k == "narHash") {
            attrs.insert("narHash".into(), Attr::Str(h.clone()));
        }
        return Ok(attrs);
    }
    err(format!("input '{url}' is unsupported"), p)
}

fn get_str<'a>(attrs: &'a Attrs, name: &str, p: Pos) -> EvalResult<Option<&'a str>> {
    match attrs.get(name) {
        None => Ok(None),
        Some(Attr::Str(s)) => Ok(Some(s)),
        Some(_) => err(format!("input attribute '{name}' is not a string"), p),
    }
}

fn get_bool(attrs: &Attrs, name: &str, p: Pos) -> EvalResult<bool> {
    match attrs.get(name) {
        None => Ok(false),
        Some(Attr::Bool(b)) => Ok(*b),
        Some(_) => err(format!("input attribute '{name}' is not a Boolean"), p),
    }
}

fn get_int(attrs: &Attrs, name: &str, p: Pos) -> EvalResult<Option<u64>> {
    match attrs.get(name) {
        None => Ok(None),
        Some(Attr::Int(i)) => Ok(Some(*i)),
        Some(_) => err(format!("input attribute '{name}' is not an integer"), p),
    }
}

fn check_allowed(attrs: &Attrs, kind: &str, allowed: &[&str], p: Pos) -> EvalResult<()> {
    for name in attrs.keys() {
        if name != "type" && !allowed.contains(&name.as_str()) {
            return err(format!("unsupported {kind} input attribute '{name}'"), p);
        }
    }
    Ok(())
}

fn glue_err(e: impl Into<super::GlueError>, p: Pos) -> Box<b8g_eval::EvalError> {
    super::builtins::store_err(e.into(), p)
}

/// Fetches the input (Nix's `Input::fetch`): checks the `narHash`,
/// `lastModified` and `revCount` it was given, and builds the result set.
fn fetch_input(
    ev: &mut Evaluator,
    attrs: Attrs,
    p: Pos,
    empty_rev_fallback: bool,
) -> EvalResult<Value> {
    let ty = match attrs.get("type") {
        Some(Attr::Str(t)) => t.clone(),
        _ => return err("input attribute 'type' is not a string", p),
    };
    let nar_hash = match get_str(&attrs, "narHash", p)? {
        Some(h) => Some(Hash::parse_any(h, Some(HashAlgo::Sha256)).map_err(|e| glue_err(e, p))?),
        None => None,
    };
    let want_modified = get_int(&attrs, "lastModified", p)?;
    let want_count = get_int(&attrs, "revCount", p)?;
    let (tree, submodules, shown) = match ty.as_str() {
        "git" => {
            check_allowed(
                &attrs,
                "Git",
                &[
                    "url",
                    "ref",
                    "rev",
                    "shallow",
                    "submodules",
                    "lastModified",
                    "revCount",
                    "narHash",
                    "allRefs",
                    "name",
                ],
                p,
            )?;
            let Some(url) = get_str(&attrs, "url", p)? else {
                return err("attribute 'url' is missing", p);
            };
            let input = GitInput {
                url: url.to_string(),
                rev: get_str(&attrs, "rev", p)?.map(str::to_string),
                git_ref: get_str(&attrs, "ref", p)?.map(str::to_string),
                shallow: get_bool(&attrs, "shallow", p)?,
                submodules: get_bool(&attrs, "submodules", p)?,
                all_refs: get_bool(&attrs, "allRefs", p)?,
            };
            if let Some(r) = &input.git_ref {
                git::check_ref(r).map_err(|e| glue_err(e, p))?;
            }
            let name = get_str(&attrs, "name", p)?.unwrap_or("source").to_string();
            let host = super::builtins::host(ev, p)?;
            let mut warnings = Vec::new();
            let fetched = host.fetch_git(&input, &name, &mut |m| warnings.push(m.to_string()));
            // Nix prints them as the tree is fetched: before anything that follows.
            for w in &warnings {
                (ev.warning_sink)(w);
            }
            let tree = fetched.map_err(|e| glue_err(e, p))?;
            (tree, Some(input.submodules), url.to_string())
        }
        "path" => {
            check_allowed(
                &attrs,
                "path",
                &["path", "rev", "revCount", "lastModified", "narHash"],
                p,
            )?;
            let Some(path) = get_str(&attrs, "path", p)? else {
                return err("attribute 'path' is missing", p);
            };
            if !path.starts_with('/') {
                return err(
                    format!("cannot fetch input 'path:{path}' because it uses a relative path"),
                    p,
                );
            }
            let rev = match get_str(&attrs, "rev", p)? {
                Some(r) => Some(git::parse_rev(r).map_err(|e| glue_err(e, p))?),
                None => None,
            };
            let host = super::builtins::host(ev, p)?;
            let mut tree = host.fetch_path_tree(path).map_err(|e| glue_err(e, p))?;
            // Nix passes "fake" tree information given for a path through.
            tree.rev = rev;
            tree.rev_count = want_count;
            (tree, None, format!("path:{path}"))
        }
        "tarball" => {
            check_allowed(&attrs, "tarball", &["url", "narHash", "name"], p)?;
            let Some(url) = get_str(&attrs, "url", p)? else {
                return err("attribute 'url' is missing", p);
            };
            let req = FetchRequest {
                url: url.to_string(),
                name: get_str(&attrs, "name", p)?.unwrap_or("source").to_string(),
                unpack: true,
                expected: None,
            };
            let host = super::builtins::host(ev, p)?;
            let (path, got) = host.fetch_hashed(&req).map_err(|e| glue_err(e, p))?;
            let tree = FetchedTree {
                path,
                nar_hash: got,
                rev: None,
                rev_count: None,
                last_modified: 0,
            };
            // Nix 2.8's tarball input reports no lastModified.
            let tree = nar_hash_check(tree, nar_hash.as_ref(), url, p)?;
            return tree_attrs(tree, None, false, false);
        }
        other => return err(format!("input type '{other}' is not supported by b8g"), p),
    };
    let tree = nar_hash_check(tree, nar_hash.as_ref(), &shown, p)?;
    if let Some(want) = want_modified {
        if tree.last_modified != want {
            return err(
                format!("'lastModified' attribute mismatch in input '{shown}', expected {want}"),
                p,
            );
        }
    }
    if ty == "git" {
        if let Some(want) = want_count {
            if tree.rev_count != Some(want) {
                return err(
                    format!("'revCount' attribute mismatch in input '{shown}', expected {want}"),
                    p,
                );
            }
        }
    }
    tree_attrs(tree, submodules, empty_rev_fallback, true)
}

fn nar_hash_check(
    tree: FetchedTree,
    want: Option<&Hash>,
    shown: &str,
    p: Pos,
) -> EvalResult<FetchedTree> {
    if let Some(want) = want {
        if *want != tree.nar_hash {
            return Err(b8g_eval::EvalError::new(
                b8g_eval::ErrorKind::HashMismatch,
                format!(
                    "NAR hash mismatch in input '{shown}' ({}), expected '{}', got '{}'",
                    tree.path,
                    want.to_sri(),
                    tree.nar_hash.to_sri()
                ),
                p,
            ));
        }
    }
    Ok(tree)
}

/// Nix's `emitTreeAttrs`.
fn tree_attrs(
    tree: FetchedTree,
    submodules: Option<bool>,
    empty_rev_fallback: bool,
    with_modified: bool,
) -> EvalResult<Value> {
    let out = tree.path.clone();
    let mut pairs = vec![
        ("outPath", str_value(out.clone(), [out].into())),
        ("narHash", Value::string(tree.nar_hash.to_sri())),
    ];
    if let Some(s) = submodules {
        pairs.push(("submodules", Value::Bool(s)));
    }
    let zero = "0".repeat(40);
    let rev = match (&tree.rev, empty_rev_fallback) {
        (Some(r), _) => Some(r.clone()),
        // `fetchGit` of a dirty tree: the all-zero SHA-1, for compatibility.
        (None, true) => Some(zero),
        (None, false) => None,
    };
    if let Some(r) = rev {
        pairs.push(("shortRev", Value::string(r[..7].to_string())));
        pairs.push(("rev", Value::string(r)));
    }
    match (tree.rev_count, empty_rev_fallback) {
        (Some(c), _) => pairs.push(("revCount", Value::Int(c as i64))),
        (None, true) => pairs.push(("revCount", Value::Int(0))),
        (None, false) => {}
    }
    if with_modified {
        pairs.push(("lastModified", Value::Int(tree.last_modified as i64)));
        pairs.push((
            "lastModifiedDate",
            Value::string(git::utc_timestamp(tree.last_modified)),
        ));
    }
    Ok(mk_attrs(pairs))
}
