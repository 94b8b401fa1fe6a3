//! `--arg`, `--argstr` and `-I`: the options of every command that evaluates a
//! file the way `nix-build` and `nix-instantiate` do. The work is the glue's
//! ([`b8g_builder::glue::auto_args`]); this is only their command-line form.

use b8g_builder::glue::{auto_args, AutoArg};

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
        auto_args::search_path(&self.include)
    }

    /// The `--arg` and `--argstr` pairs.
    pub fn args(&self) -> auto_args::AutoArgs {
        let mut out = auto_args::AutoArgs::default();
        for pair in self.arg.chunks(2) {
            out.push(pair[0].clone(), AutoArg::Expr(pair[1].clone()));
        }
        for pair in self.argstr.chunks(2) {
            out.push(pair[0].clone(), AutoArg::Str(pair[1].clone()));
        }
        out
    }
}
