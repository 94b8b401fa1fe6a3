//! What a FILE given to `b8g-build` is: a system configuration module, built
//! as a system, or an expression of derivations, instantiated as `nix-build`
//! does.
//!
//! A module is a function taking `config`, or `pkgs` or `lib` without a
//! default, or `modulesPath`; or a set (or a function whose arguments all have
//! defaults, returning a set) with a module attribute such as `imports`,
//! `config`, `boot` or `services` and no `type = "derivation"`. The decision
//! is made by Nix code, so a file is judged by its value, not by its name.

use std::path::PathBuf;

use b8g_builder::glue::{AutoArgs, EvalSession, SessionError};
use b8g_eval::{derivation_outputs, Pos, Value};

/// What FILE turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// A system configuration module.
    System,
    /// The derivations it evaluates to (written to the store), in order, each as its
    /// `.drv` path and the output the value stands for (`outputName`: `out`, or
    /// `doc` for `drv.doc`), which is the one nix-build builds and links.
    Derivations(Vec<(String, String)>),
}

/// What `b8g-build` evaluates: a file, or an expression given with `-E`.
#[derive(Debug, Clone)]
pub enum Source {
    /// An absolute path.
    File(PathBuf),
    /// Nix source (`nix-build -E`); relative paths in it resolve against `cwd`.
    /// An expression is always taken as derivations, as nix-build takes it.
    Expr(String),
}

/// A file to evaluate as `nix-build FILE -A ATTR --arg …` would.
#[derive(Debug, Clone)]
pub struct FileEval {
    pub source: Source,
    pub attr: Option<String>,
    pub args: AutoArgs,
    pub search_path: Vec<(String, String)>,
    /// Where `--arg` expressions resolve relative paths.
    pub cwd: PathBuf,
}

/// The function telling a module from anything else (see the module documentation). It
/// calls FILE's function with `{ }` only when every argument has a default, as `{ ... }:`
/// modules have. Applied to the file's value, so errors in the file point at the file alone.
const IS_MODULE: &str = "f: let \
      isModule = v: builtins.isAttrs v && (v.type or null) != \"derivation\" && \
        builtins.any (n: v ? ${n}) [ \"imports\" \"config\" \"options\" \"boot\" \
          \"fileSystems\" \"services\" \"networking\" \"systemd\" \"environment\" \"users\" ]; \
    in if builtins.isFunction f then \
      (let a = builtins.functionArgs f; in \
        a ? config || (a ? pkgs && !a.pkgs) || (a ? lib && !a.lib) || a ? modulesPath \
        || (builtins.all (n: a.${n}) (builtins.attrNames a) && isModule (f { }))) \
    else isModule f";

/// Evaluates the file: a module is only recognised; otherwise its derivations
/// (after the automatic arguments and `-A`) are written to the store the
/// session holds.
pub fn instantiate_file(session: EvalSession, what: FileEval) -> Result<FileKind, SessionError> {
    let FileEval {
        source,
        attr,
        args,
        search_path,
        cwd,
    } = what;
    let session = session.search_path(search_path).base_dir(&cwd);
    session.run(move |ev, cwd| {
        let v = match &source {
            Source::File(file) => {
                let v = ev.eval_file(&file.to_string_lossy())?;
                let is_module = ev.eval_str(IS_MODULE, cwd)?;
                let kind = ev.call(is_module, v.clone(), Pos::NONE)?;
                if matches!(ev.force(kind)?, Value::Bool(true)) {
                    return Ok(FileKind::System);
                }
                v
            }
            Source::Expr(text) => ev.eval_str(text, cwd)?,
        };
        let v = args.apply(ev, v, attr.as_deref(), cwd)?;
        let drvs = derivation_outputs(ev, v)?;
        if let Some((drv, _)) = drvs.iter().find(|(_, o)| o.is_empty()) {
            return b8g_eval::error::err(
                format!("derivation '{drv}' lacks an 'outputName' attribute"),
                Pos::NONE,
            );
        }
        Ok(FileKind::Derivations(drvs))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use b8g_store::format::store_path::StoreDir;

    fn kind(text: &str) -> FileKind {
        let dir = tempfile::tempdir().expect("tempdir");
        // A name that says nothing: the value decides.
        let file = dir.path().join("x.txt");
        std::fs::write(&file, text).expect("write");
        instantiate_file(
            EvalSession::dry_run(StoreDir::default()),
            FileEval {
                source: Source::File(file),
                attr: None,
                args: AutoArgs::default(),
                search_path: Vec::new(),
                cwd: dir.path().to_owned(),
            },
        )
        .expect("evaluates")
    }

    #[test]
    fn modules_are_told_from_derivations_by_their_value() {
        assert_eq!(kind("{ config, ... }: { }"), FileKind::System);
        assert_eq!(kind("{ pkgs, lib, ... }: { }"), FileKind::System);
        assert_eq!(kind("{ imports = [ ]; }"), FileKind::System);
        assert_eq!(kind("{ ... }: { boot.x = 1; }"), FileKind::System);
        assert_eq!(kind("{ }"), FileKind::Derivations(Vec::new()));
        assert_eq!(
            kind("{ pkgs ? null }: { services = 1; type = \"derivation\"; outputName = \"out\"; drvPath = \"/b8g/store/00000000000000000000000000000000-x.drv\"; }"),
            FileKind::Derivations(vec![(
                "/b8g/store/00000000000000000000000000000000-x.drv".into(),
                "out".into()
            )])
        );
    }
}
