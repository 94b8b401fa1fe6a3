//! The automatic arguments of `nix-build` and `nix-instantiate`: `--arg NAME
//! EXPR` and `--argstr NAME STRING`, applied to the value a file evaluates to,
//! and the `-I` search path in front of `NIX_PATH`.

use b8g_eval::value::Attr;
use b8g_eval::{
    auto_call, derivation_outputs, derivation_outputs_of_called, find_along_attr_path,
    find_along_attr_path_of_called, parse_search_path, Attrs, EvalResult, Evaluator, Pos, Value,
};

/// One automatic argument's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoArg {
    /// `--arg`: an expression, evaluated relative to the current directory.
    Expr(String),
    /// `--argstr`: a string.
    Str(String),
}

/// The automatic arguments in the order given (a later one of the same name wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoArgs(Vec<(String, AutoArg)>);

impl AutoArgs {
    pub fn push(&mut self, name: impl Into<String>, arg: AutoArg) {
        self.0.push((name.into(), arg));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The arguments as a set; `--arg` expressions are parsed relative to `cwd` and
    /// left unevaluated until used (Nix's thunks).
    pub fn attrs(&self, ev: &mut Evaluator, cwd: &str) -> EvalResult<Attrs> {
        let mut attrs: Vec<Attr> = Vec::with_capacity(self.0.len());
        for (name, arg) in &self.0 {
            let value = match arg {
                AutoArg::Expr(e) => ev.lazy_str(e, cwd)?,
                AutoArg::Str(s) => Value::string(s.clone()),
            };
            attrs.retain(|a| a.name.as_ref() != name.as_str());
            attrs.push(Attr {
                name: name.as_str().into(),
                value,
                pos: Pos::NONE,
            });
        }
        Ok(Attrs::from_unsorted(attrs))
    }

    /// Calls `v` with the arguments it asks for (Nix's auto-call), then selects
    /// `attr` in the result and calls that too, as `nix-build -A` does.
    pub fn apply(
        &self,
        ev: &mut Evaluator,
        v: Value,
        attr: Option<&str>,
        cwd: &str,
    ) -> EvalResult<Value> {
        let args = self.attrs(ev, cwd)?;
        Self::apply_with(ev, v, attr, &args)
    }

    /// [`apply`](Self::apply) with the arguments made already (by
    /// [`attrs`](Self::attrs), which Nix does before evaluating the file, so a
    /// syntax error in an `--arg` is the one reported).
    pub fn apply_with(
        ev: &mut Evaluator,
        v: Value,
        attr: Option<&str>,
        args: &Attrs,
    ) -> EvalResult<Value> {
        let mut v = auto_call(ev, v, args)?;
        if let Some(a) = attr {
            v = find_along_attr_path(ev, v, a, args)?;
            v = auto_call(ev, v, args)?;
        }
        Ok(v)
    }
}

impl AutoArgs {
    /// The derivations `nix-build FILE -A attr` builds from the file's value `v`,
    /// each as its `.drv` path and wanted output (see
    /// [`b8g_eval::derivation_outputs`]).
    pub fn derivations(
        &self,
        ev: &mut Evaluator,
        v: Value,
        attr: Option<&str>,
        cwd: &str,
    ) -> EvalResult<Vec<(String, String)>> {
        let args = self.attrs(ev, cwd)?;
        Self::derivations_with(ev, v, attr, &args)
    }

    /// [`derivations`](Self::derivations) with the arguments made already (by
    /// [`attrs`](Self::attrs)).
    pub fn derivations_with(
        ev: &mut Evaluator,
        v: Value,
        attr: Option<&str>,
        args: &Attrs,
    ) -> EvalResult<Vec<(String, String)>> {
        let v = find_along_attr_path(ev, v, attr.unwrap_or(""), args)?;
        derivation_outputs(ev, v, args)
    }

    /// [`derivations_with`](Self::derivations_with) from `r`, the file's value
    /// already called with `args` ([`b8g_eval::auto_call`]), which nix-build's
    /// first step does: the file's function is called once, not twice.
    pub fn derivations_of_called(
        ev: &mut Evaluator,
        r: Value,
        attr: Option<&str>,
        args: &Attrs,
    ) -> EvalResult<Vec<(String, String)>> {
        match attr.filter(|a| !a.is_empty()) {
            Some(a) => {
                let v = find_along_attr_path_of_called(ev, r, a, args)?;
                derivation_outputs(ev, v, args)
            }
            None => derivation_outputs_of_called(ev, r, args),
        }
    }
}

/// The `<...>` search path: the `-I` entries (`DIR` or `PREFIX=DIR`) first,
/// then those of `NIX_PATH`.
pub fn search_path(include: &[String]) -> Vec<(String, String)> {
    let mut path: Vec<_> = include.iter().flat_map(|i| parse_search_path(i)).collect();
    path.extend(parse_search_path(
        &std::env::var("NIX_PATH").unwrap_or_default(),
    ));
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glue::EvalSession;
    use b8g_store::format::store_path::StoreDir;

    fn eval(expr: &'static str, args: AutoArgs, attr: Option<&'static str>) -> String {
        EvalSession::dry_run(StoreDir::default())
            .run(move |ev, cwd| {
                let v = ev.eval_str(expr, cwd)?;
                let v = args.apply(ev, v, attr, cwd)?;
                b8g_eval::value_to_text(ev, v, b8g_eval::OutputMode::Json)
            })
            .expect("evaluates")
    }

    #[test]
    fn arguments_are_passed_in_order_and_the_last_of_a_name_wins() {
        let mut args = AutoArgs::default();
        args.push("a", AutoArg::Expr("1 + 1".into()));
        args.push("b", AutoArg::Str("x".into()));
        args.push("a", AutoArg::Str("last".into()));
        assert_eq!(
            eval("{ a, b, c ? 3 }: [ a b c ]", args, None),
            r#"["last","x",3]"#
        );
    }

    #[test]
    fn the_selected_attribute_is_called_too() {
        let mut args = AutoArgs::default();
        args.push("n", AutoArg::Expr("5".into()));
        assert_eq!(eval("{ n }: { f = { n }: n * 2; }", args, Some("f")), "10");
    }

    #[test]
    fn arg_expressions_are_parsed_at_once_and_evaluated_when_used() {
        // Nix 2.8: `nix-instantiate --eval -E '{ x ? 1 }: 2' --arg x 'throw "no"'` prints 2.
        let mut args = AutoArgs::default();
        args.push("x", AutoArg::Expr(r#"throw "no""#.into()));
        args.push("y", AutoArg::Expr("4".into()));
        assert_eq!(eval("{ x ? 1, y }: y", args.clone(), None), "4");
        let used = EvalSession::dry_run(StoreDir::default()).run(move |ev, cwd| {
            let v = ev.eval_str("{ x, y }: x", cwd)?;
            let v = args.apply(ev, v, None, cwd)?;
            b8g_eval::value_to_text(ev, v, b8g_eval::OutputMode::Json)
        });
        assert!(used.is_err_and(|e| e.to_string().contains("no")));
        // A syntax error is reported even for an argument nobody asks for.
        let mut args = AutoArgs::default();
        args.push("x", AutoArg::Expr("1 +".into()));
        let bad = EvalSession::dry_run(StoreDir::default()).run(move |ev, cwd| {
            let v = ev.eval_str("{ ... }: 2", cwd)?;
            let v = args.apply(ev, v, None, cwd)?;
            b8g_eval::value_to_text(ev, v, b8g_eval::OutputMode::Json)
        });
        assert!(bad.is_err_and(|e| e.to_string().contains("syntax error")));
    }
}
