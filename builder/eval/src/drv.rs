//! `derivation`, written in Nix over `derivationStrict`. The builtins that
//! make store objects are registered by the owner of a store (b8g-builder's
//! glue); without one they fail with [`no_store`].

use crate::error::{ErrorKind, EvalError, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::Value;

/// `derivation`, written in Nix over `derivationStrict` as Nix itself does:
/// every output becomes an attribute set sharing the input attributes.
const DERIVATION_NIX: &str = r#"
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
    let e = ev.compile(DERIVATION_NIX, "«derivation»", "/")?;
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
