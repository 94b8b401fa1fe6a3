//! `--arg`, `--argstr` and `-I`: the options of every command that evaluates a
//! file the way `nix-build` and `nix-instantiate` do. The work is the glue's
//! ([`b8g_builder::glue::auto_args`]); this is only their command-line form.

use b8g_builder::glue::{auto_args, AutoArg};
use clap::{ArgMatches, Args, FromArgMatches};

/// The options as clap declares them.
#[derive(Debug, Clone, Default, clap::Args)]
struct Declared {
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

/// The options, `--arg` and `--argstr` in the order given: of two of the same
/// name, the later one wins, whichever option each came by (as in Nix).
#[derive(Debug, Clone, Default)]
pub struct AutoArgs {
    args: Vec<(String, AutoArg)>,
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
        for (name, arg) in &self.args {
            out.push(name.clone(), arg.clone());
        }
        out
    }

    fn from_declared(d: Declared, m: &ArgMatches) -> Self {
        // Each occurrence gives two values (NAME, then EXPR or STRING); the
        // index of its first value orders it among the others.
        let occurrences = |id: &str, values: &[String], make: fn(String) -> AutoArg| {
            let at: Vec<usize> = m
                .indices_of(id)
                .map(|i| i.step_by(2).collect())
                .unwrap_or_default();
            let pairs = values
                .chunks(2)
                .map(move |p| (p[0].clone(), make(p[1].clone())));
            at.into_iter().zip(pairs).collect::<Vec<_>>()
        };
        let mut all = occurrences("arg", &d.arg, AutoArg::Expr);
        all.extend(occurrences("argstr", &d.argstr, AutoArg::Str));
        all.sort_by_key(|(at, _)| *at);
        AutoArgs {
            args: all.into_iter().map(|(_, a)| a).collect(),
            include: d.include,
        }
    }
}

impl FromArgMatches for AutoArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self::from_declared(Declared::from_arg_matches(m)?, m))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for AutoArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Declared::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Declared::augment_args_for_update(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        auto: AutoArgs,
    }

    #[test]
    fn arguments_keep_the_order_given_across_both_options() {
        let cli = Cli::try_parse_from([
            "x", "--argstr", "a", "s", "--arg", "a", "1", "--arg", "b", "2", "--argstr", "b", "t",
            "-I", "p",
        ])
        .expect("parses");
        assert_eq!(
            cli.auto.args,
            [
                ("a".to_string(), AutoArg::Str("s".into())),
                ("a".to_string(), AutoArg::Expr("1".into())),
                ("b".to_string(), AutoArg::Expr("2".into())),
                ("b".to_string(), AutoArg::Str("t".into())),
            ]
        );
        assert_eq!(cli.auto.include, ["p"]);
    }
}
