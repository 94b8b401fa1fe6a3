//! b8g-builder: the Nix-language evaluator, derivations and the sandboxed builder.

pub mod builtin;
pub mod glue;
pub mod realise;
pub mod sandbox;
pub mod schedule;
