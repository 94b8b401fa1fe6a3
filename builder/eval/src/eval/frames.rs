//! The trace frames and positions an error gets on its way out, as Nix 2.8 adds them:
//! a call's frames, a selection's and a deep force's, and where a value found being
//! evaluated is reported.

use crate::compile::{Key, Lambda};
use crate::error::{ErrorKind, EvalError, Pos, MAX_TRACE};
use crate::value::{Attr, Value};

/// Errors raised without a position (forcing, recursion) take the call site's.
#[cold]
pub(super) fn call_trace(mut e: Box<EvalError>, pos: Pos) -> Box<EvalError> {
    if e.pos.is_none() {
        e.pos = pos;
    }
    e
}

/// Finding a value being evaluated is reported where it was read (a variable, or the
/// attribute a selection found), as Nix's `forceValue` does; errors that already have a
/// position pass through.
#[cold]
pub(super) fn blackhole_at(mut e: Box<EvalError>, pos: Pos) -> Box<EvalError> {
    if e.pos.is_none() && matches!(e.kind, ErrorKind::InfiniteRecursion) {
        e.pos = pos;
    }
    e
}

/// Nix 2.8's frames for an error in a function's body: the function, then where it was
/// called from.
#[cold]
pub(super) fn lambda_frames(mut e: Box<EvalError>, lam: &Lambda, call: Pos) -> Box<EvalError> {
    if std::mem::take(&mut e.in_arguments) || e.trace.len() + 2 > MAX_TRACE {
        return e;
    }
    let what = match &lam.name {
        Some(n) => format!("while evaluating '{n}'"),
        None => "while evaluating anonymous lambda".to_string(),
    };
    e.trace.push((lam.pos, what));
    e.trace.push((call, "from call site".into()));
    e
}

/// Where the attribute `name` of `set` was defined, or `or` if it has no position.
pub(super) fn attr_pos(set: &Value, name: &str, or: Pos) -> Pos {
    match set {
        Value::Attrs(a) => a
            .get_attr(name)
            .map(|a| a.pos)
            .filter(|p| !p.is_none())
            .unwrap_or(or),
        _ => or,
    }
}

/// Nix 2.8's frame for an error in a selection (`s.a.b`): the select's attribute path, at
/// the position of the attribute found last (`found_in`: its set and name), if any.
#[cold]
pub(super) fn select_frame(
    mut e: Box<EvalError>,
    found_in: Option<(Value, std::borrow::Cow<'static, str>)>,
    path: &[Key],
) -> Box<EvalError> {
    let pos = match &found_in {
        Some((Value::Attrs(a), name)) => a.get_attr(name).map(|a| a.pos).unwrap_or(Pos::NONE),
        _ => Pos::NONE,
    };
    // Nix leaves out selections inside its own `derivation.nix`.
    if pos.is_none() || crate::error::in_source(pos, crate::drv::DERIVATION_FILE) {
        return e;
    }
    let shown: Vec<String> = path
        .iter()
        .map(|k| match k {
            Key::Static(s, _) => s.to_string(),
            _ => "\"${...}\"".to_string(),
        })
        .collect();
    e.add_frame(
        pos,
        format!("while evaluating the attribute '{}'", shown.join(".")),
    );
    e
}

/// Nix 2.8's frame for an error while forcing an attribute's value deeply, there even
/// when the attribute has no position (one a builtin made).
#[cold]
pub(super) fn attr_frame(mut e: Box<EvalError>, at: &Attr) -> Box<EvalError> {
    e.add_frame(
        at.pos,
        format!("while evaluating the attribute '{}'", at.name),
    );
    e
}
