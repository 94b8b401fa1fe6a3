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
use b8g_eval::{auto_call, Pos, Value};

/// A set callable through `__functor`.
fn is_functor(v: &Value) -> bool {
    matches!(v, Value::Attrs(a) if a.get("__functor").is_some())
}

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

/// The function telling a module from anything else (see the module documentation),
/// applied to the names given by `--arg`/`--argstr`, FILE's value, and that value
/// called with those arguments as nix-build calls it (used only when every other
/// argument has a default, as `{ ... }:` modules have; a function of one plain
/// argument is called with `{ }`). An argument given on the command line counts as
/// nix-build's: modules never get any. A module attribute whose value is a
/// derivation (`users = drv;` in a package set) does not make a module. Applied to
/// the file's value, so errors in the file point at the file alone.
const IS_MODULE: &str = "given: f: called: let \
      isModule = v: builtins.isAttrs v && (v.type or null) != \"derivation\" && \
        builtins.any (n: v ? ${n} && (v.${n}.type or null) != \"derivation\") \
          [ \"imports\" \"config\" \"options\" \"boot\" \"fileSystems\" \"services\" \
            \"networking\" \"systemd\" \"environment\" \"users\" ]; \
      mine = n: !(builtins.elem n given); \
    in if builtins.isFunction f then \
      (let a = builtins.functionArgs f; in \
        if a == { } then isModule (f { }) \
        else (a ? config && mine \"config\") || (a ? pkgs && !a.pkgs && mine \"pkgs\") \
          || (a ? lib && !a.lib && mine \"lib\") || (a ? modulesPath && mine \"modulesPath\") \
          || (builtins.all (n: a.${n} || !(mine n)) (builtins.attrNames a) && isModule called)) \
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
        let auto = args.attrs(ev, cwd)?;
        let v = match &source {
            Source::File(file) => {
                let v = ev.eval_file(&file.to_string_lossy())?;
                // The file's function called as nix-build calls it, once: the
                // derivations below are taken from the same call.
                let called = {
                    let (v, auto) = (v.clone(), auto.clone());
                    let once = std::rc::Rc::new(std::cell::OnceCell::new());
                    let shared = std::rc::Rc::clone(&once);
                    // A thunk: forced at most once, and kept for below.
                    let thunk = Value::native(move |ev| {
                        let r = auto_call(ev, v.clone(), &auto)?;
                        Ok(shared.get_or_init(|| r).clone())
                    });
                    (thunk, once)
                };
                let given = Value::list(
                    auto.attrs
                        .iter()
                        .map(|a| Value::string(a.name.as_ref()))
                        .collect(),
                );
                let is_module = ev.eval_str(IS_MODULE, cwd)?;
                let is_module = ev.call(is_module, given, Pos::NONE)?;
                let is_module = ev.call(is_module, v.clone(), Pos::NONE)?;
                let kind = ev.call(is_module, called.0, Pos::NONE)?;
                if matches!(ev.force(kind)?, Value::Bool(true)) {
                    return Ok(FileKind::System);
                }
                // Calling the result again would call it once more than nix-build
                // does only when it is a function (or functor) itself.
                match called.1.get() {
                    Some(r) if !r.is_function() && !is_functor(r) => r.clone(),
                    _ => v,
                }
            }
            Source::Expr(text) => ev.eval_str(text, cwd)?,
        };
        let drvs = AutoArgs::derivations_with(ev, v, attr.as_deref(), &auto)?;
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
    use b8g_builder::glue::AutoArg;
    use b8g_store::format::store_path::StoreDir;

    fn kind(text: &str) -> FileKind {
        kind_with(text, AutoArgs::default(), None).expect("evaluates")
    }

    fn kind_with(text: &str, args: AutoArgs, attr: Option<&str>) -> Result<FileKind, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        // A name that says nothing: the value decides.
        let file = dir.path().join("x.txt");
        std::fs::write(&file, text).expect("write");
        instantiate_file(
            EvalSession::dry_run(StoreDir::default()),
            FileEval {
                source: Source::File(file),
                attr: attr.map(str::to_owned),
                args,
                search_path: Vec::new(),
                cwd: dir.path().to_owned(),
            },
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn modules_are_told_from_derivations_by_their_value() {
        assert_eq!(kind("{ config, ... }: { }"), FileKind::System);
        assert_eq!(kind("{ pkgs, lib, ... }: { }"), FileKind::System);
        assert_eq!(kind("{ imports = [ ]; }"), FileKind::System);
        assert_eq!(kind("{ ... }: { boot.x = 1; }"), FileKind::System);
        assert_eq!(kind("{ }"), FileKind::Derivations(Vec::new()));
        assert_eq!(
            kind("{ pkgs ? null }: { services = 1; type = \"derivation\"; name = \"x\"; outputName = \"out\"; drvPath = \"/b8g/store/00000000000000000000000000000000-x.drv\"; }"),
            FileKind::Derivations(vec![(
                "/b8g/store/00000000000000000000000000000000-x.drv".into(),
                "out".into()
            )])
        );
    }

    /// As nix-build: a file taking arguments given by `--arg`/`--argstr` is called
    /// with them (its defaults for those are never evaluated), and a package set
    /// with an attribute named like a module option is still a package set.
    #[test]
    fn arguments_given_make_a_file_of_derivations() {
        const DRV: &str = "{ type = \"derivation\"; name = \"x\"; outputName = \"out\"; \
                           drvPath = \"/b8g/store/00000000000000000000000000000000-x.drv\"; }";
        let drvs = FileKind::Derivations(vec![(
            "/b8g/store/00000000000000000000000000000000-x.drv".into(),
            "out".into(),
        )]);
        let given = |name: &str| {
            let mut a = AutoArgs::default();
            a.push(name, AutoArg::Expr(DRV.into()));
            a
        };
        for file in [
            "{ pkgs ? import <nixpkgs> { } }: pkgs",
            "{ pkgs ? throw \"pass --arg pkgs\" }: pkgs",
            "{ pkgs, lib ? null }: pkgs",
        ] {
            assert_eq!(
                kind_with(file, given("pkgs"), None),
                Ok(drvs.clone()),
                "{file}"
            );
        }
        // Without the argument, the same files are what they were.
        assert_eq!(kind("{ pkgs, lib ? null }: pkgs"), FileKind::System);
        assert!(kind_with(
            "{ pkgs ? throw \"pass --arg pkgs\" }: pkgs",
            AutoArgs::default(),
            None
        )
        .is_err_and(|e| e.contains("pass --arg pkgs")));
        let set = format!("{{ b = {DRV}; users = {DRV}; }}");
        assert_eq!(kind_with(&set, AutoArgs::default(), Some("b")), Ok(drvs));
        // A module whose options look alike stays a module.
        assert_eq!(kind("{ ... }: { users.alice.uid = 1; }"), FileKind::System);
    }
}
