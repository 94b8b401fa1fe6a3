//! b8g-builder: the Nix-language evaluator, derivations and the sandboxed builder.
//!
//! `glue` (the store builtins and `EvalSession`) is behind the `glue`
//! feature, as it brings in b8g-eval; realising and the builtin builders
//! need no evaluator.

pub mod builtin;
pub mod debian;
#[cfg(feature = "glue")]
pub mod glue;
pub mod realise;
pub mod remote;
pub mod sandbox;
pub mod schedule;
pub mod serve;
