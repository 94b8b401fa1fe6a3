//! `--arg`, `--argstr` and `-I`: the options of every command that evaluates a
//! file the way `nix-build` and `nix-instantiate` do.

use b8g_eval::{
    auto_call, parse_search_path, select_attr_path, Attrs, EvalResult, Evaluator, Value,
};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AutoArgs {
    /// Pass NAME = EXPR to the function the file evaluates to.
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"])]
    arg: Vec<String>,
    /// Pass NAME = "STRING" to the function the file evaluates to.
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "STRING"])]
    argstr: Vec<String>,
    /// Add a search path entry (`DIR` or `PREFIX=DIR`) before those of NIX_PATH.
    #[arg(short = 'I', value_name = "PATH")]
    include: Vec<String>,
}

impl AutoArgs {
    /// The `<...>` search path: `-I` entries first, then those of `NIX_PATH`.
    pub fn search_path(&self) -> Vec<(String, String)> {
        let mut path: Vec<_> = self
            .include
            .iter()
            .flat_map(|i| parse_search_path(i))
            .collect();
        path.extend(parse_search_path(
            &std::env::var("NIX_PATH").unwrap_or_default(),
        ));
        path
    }

    /// Calls `v` with the arguments it asks for (as Nix's auto-call does), then
    /// selects `attr` in the result and calls that too. `--arg` expressions are
    /// evaluated relative to `cwd`.
    pub fn apply(
        &self,
        ev: &mut Evaluator,
        v: Value,
        attr: Option<&str>,
        cwd: &str,
    ) -> EvalResult<Value> {
        let mut pairs = Vec::with_capacity((self.arg.len() + self.argstr.len()) / 2);
        for pair in self.arg.chunks(2) {
            pairs.push((pair[0].clone(), ev.eval_str(&pair[1], cwd)?));
        }
        for pair in self.argstr.chunks(2) {
            pairs.push((pair[0].clone(), Value::string(pair[1].clone())));
        }
        let args = Attrs::from_unsorted(
            pairs
                .into_iter()
                .map(|(name, value)| b8g_eval::value::Attr {
                    name: name.into(),
                    value,
                    pos: b8g_eval::Pos::NONE,
                })
                .collect(),
        );
        let mut v = auto_call(ev, v, &args)?;
        if let Some(a) = attr {
            v = select_attr_path(ev, v, a)?;
            v = auto_call(ev, v, &args)?;
        }
        Ok(v)
    }
}
