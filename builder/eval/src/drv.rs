//! `derivation`, written in Nix over `derivationStrict`. The builtins that
//! make store objects are registered by the owner of a store (b8g-builder's
//! glue); without one they fail with [`no_store`].

use crate::error::{ErrorKind, EvalError, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::Value;

/// The name `derivation`'s source is known by in positions: Nix's, a file nobody can
/// open, so its lines are not shown.
pub(crate) const DERIVATION_FILE: &str = "//builtin/derivation.nix";

/// `derivation`, written in Nix over `derivationStrict` as Nix itself does:
/// every output becomes an attribute set sharing the input attributes. Laid out so
/// that its positions (shown in traces) are the lines and columns Nix 2.8 reports
/// for its own copy.
const DERIVATION_NIX: &str = r#"
# `derivation`: a wrapper around `derivationStrict` making one attribute set
# per output, all of them sharing the input attributes.

drvAttrs @ { outputs ? [ "out" ], ... }:

let

  strict = derivationStrict drvAttrs;

  commonAttrs = drvAttrs // (builtins.listToAttrs outputsList) //
    { all = map (x: x.value) outputsList;
      inherit drvAttrs;
    };

  outputToAttrListElement = outputName:
    { name = outputName;
      value = commonAttrs // {
        outPath = builtins.getAttr outputName strict;
        drvPath = strict.drvPath;
        type = "derivation";
        inherit outputName;
      };
    };

  outputsList = map outputToAttrListElement outputs;

in (builtins.head outputsList).value
"#;

pub(crate) fn derivation_fn(ev: &mut Evaluator) -> EvalResult<Value> {
    if let Some(v) = &ev.derivation_fn {
        return Ok(v.clone());
    }
    let e = ev.compile(DERIVATION_NIX, DERIVATION_FILE, "/")?;
    let env = ev.globals.clone();
    let v = ev.eval(e, &env)?;
    ev.derivation_fn = Some(v.clone());
    Ok(v)
}

/// What a store-making builtin does when nobody registered the real one.
pub(crate) fn no_store(what: &str, p: Pos) -> EvalResult<Value> {
    Err(EvalError::new(
        ErrorKind::Io,
        format!("cannot {what}: no store is available"),
        p,
    ))
}
