//! What a FILE given to `b8g-build` is: a system configuration module, built
//! as a system, or an expression of derivations, instantiated as `nix-build`
//! does.
//!
//! A module is a function of a set needing `config`, `options` or `modulesPath`,
//! or one with `...` needing only module arguments (`lib`, `pkgs`, …); or a set
//! (or what a function whose arguments all have defaults or are given by
//! `--arg`/`--argstr` returns) that imports, or whose every name is a module's
//! (`config`, `boot`, `services`, … — see `MODULE_NAMES`) with no derivation
//! among them. So `{ lib, stdenv, fetchurl }:`, nixpkgs' entry point and package
//! sets are nix-build's. The decision is made by Nix code, so a file is judged by
//! its value, not by its name.

use std::path::PathBuf;

use b8g_builder::glue::{AutoArgs, EvalSession, SessionError};
use b8g_eval::value::Attr;
use b8g_eval::{auto_call, set_pattern_ellipsis, Attrs, Pos, Value};

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
    /// `<nixpkgs>` or `<nixpkgs/lib>`: a file found on the search path (`-I`,
    /// `NIX_PATH`), then evaluated as a file is.
    Lookup(String),
}

impl Source {
    /// FILE as nix-build reads it: `<…>` is looked up on the search path.
    pub fn from_arg(file: &std::path::Path, cwd: &std::path::Path) -> Source {
        let s = file.to_string_lossy();
        if s.len() > 2 && s.starts_with('<') && s.ends_with('>') {
            Source::Lookup(s.into_owned())
        } else if file.is_absolute() {
            Source::File(file.to_owned())
        } else {
            Source::File(cwd.join(file))
        }
    }
}

/// A file to evaluate as `nix-build FILE -A ATTR --arg …` would.
#[derive(Debug, Clone)]
pub struct FileEval {
    pub source: Source,
    /// The `-A` paths, in order (none: the value itself). The file is
    /// evaluated once for all of them, as nix-build does.
    pub attrs: Vec<String>,
    pub args: AutoArgs,
    pub search_path: Vec<(String, String)>,
    /// Where `--arg` expressions resolve relative paths.
    pub cwd: PathBuf,
}

/// Top-level names a module may have: its structure, and the option namespaces
/// of b8g's system modules (checked against them by a test) and of NixOS's that
/// a configuration copied from NixOS may set.
const MODULE_NAMES: &[&str] = &[
    // Structure.
    "imports",
    "options",
    "config",
    "meta",
    "disabledModules",
    "_file",
    "key",
    "freeformType",
    // b8g's system modules.
    "assertions",
    "boot",
    "environment",
    "fileSystems",
    "networking",
    "security",
    "services",
    "swapDevices",
    "system",
    "systemd",
    "time",
    "users",
    "virtualisation",
    "warnings",
    // NixOS's, not (yet) b8g's.
    "console",
    "documentation",
    "fonts",
    "hardware",
    "i18n",
    "nix",
    "nixpkgs",
    "powerManagement",
    "programs",
    "sound",
    "xdg",
    "zramSwap",
];

/// The function telling a module from anything else (see the module documentation),
/// applied to: the names given by `--arg`/`--argstr` (an argument given on the command
/// line is nix-build's: modules never get any), `{ ellipsis }` for a function of a set
/// (`null` otherwise), the file's value, and that value called as nix-build calls it
/// (forced only when every argument not given has a default, and then reused below).
///
/// A set is a module when it imports, or when every name in it is a module's
/// (`MODULE_NAMES`) and none holds a derivation; a package set has names of its own.
/// A function of a set is a module when it needs `config`, `options` or `modulesPath`,
/// or has `...` and needs only module arguments (`lib`, `pkgs`, …); `{ lib, stdenv }:`
/// is a package, `x: …` is neither (nix-build does not call it). Applied to the file's
/// value, so errors in the file point at the file alone.
const IS_MODULE: &str = "known: given: shape: f: called: let \
      isModule = v: builtins.isAttrs v && (v.type or null) != \"derivation\" && \
        (let names = builtins.attrNames v; in names != [ ] \
          && (v ? imports || builtins.all (n: builtins.elem n known) names) \
          && builtins.all (n: (v.${n}.type or null) != \"derivation\") names); \
      moduleArgs = [ \"config\" \"options\" \"lib\" \"pkgs\" \"modulesPath\" \"utils\" ]; \
    in if shape == null then (if builtins.isFunction f then false else isModule f) \
    else let a = builtins.functionArgs f; \
             required = builtins.filter (n: !a.${n} && !(builtins.elem n given)) \
               (builtins.attrNames a); \
      in if required == [ ] then isModule called \
        else builtins.any (n: builtins.elem n [ \"config\" \"options\" \"modulesPath\" ]) required \
          || (shape.ellipsis && builtins.all (n: builtins.elem n moduleArgs) required)";

/// Evaluates the file: a module is only recognised; otherwise its derivations
/// (after the automatic arguments and `-A`) are written to the store the
/// session holds.
pub fn instantiate_file(session: EvalSession, what: FileEval) -> Result<FileKind, SessionError> {
    let FileEval {
        source,
        attrs,
        args,
        search_path,
        cwd,
    } = what;
    let session = session.search_path(search_path).base_dir(&cwd);
    session.run(move |ev, cwd| {
        let auto = args.attrs(ev, cwd)?;
        // The file to evaluate, or the expression's text.
        let file = match &source {
            Source::File(file) => Ok(file.to_string_lossy().into_owned()),
            Source::Lookup(name) => {
                let p = ev.eval_str(name, cwd)?;
                match ev.force(p)? {
                    Value::Path(p) => Ok(p.to_string()),
                    other => Ok(ev.force_string_noctx(other, Pos::NONE)?),
                }
            }
            Source::Expr(text) => Err(text),
        };
        let v = match file {
            Ok(file) => {
                let v = ev.eval_file(&file)?;
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
                    auto.iter()
                        .map(|a| Value::string(a.name.as_ref()))
                        .collect(),
                );
                let known = Value::list(MODULE_NAMES.iter().map(|n| Value::string(*n)).collect());
                let shape = match set_pattern_ellipsis(&ev.force(v.clone())?) {
                    Some(ellipsis) => Value::attrs(Attrs::from_unsorted(vec![Attr {
                        name: "ellipsis".into(),
                        value: Value::Bool(ellipsis),
                        pos: Pos::NONE,
                    }])),
                    None => Value::Null,
                };
                let mut is_module = ev.eval_str(IS_MODULE, cwd)?;
                for arg in [known, given, shape, v.clone(), called.0] {
                    is_module = ev.call(is_module, arg, Pos::NONE)?;
                }
                if matches!(ev.force(is_module)?, Value::Bool(true)) {
                    return Ok(FileKind::System);
                }
                // The call made to tell a module is nix-build's first step.
                if let Some(r) = called.1.get() {
                    let mut drvs = Vec::new();
                    for attr in each_attr(&attrs) {
                        drvs.extend(AutoArgs::derivations_of_called(ev, r.clone(), attr, &auto)?);
                    }
                    return checked(drvs);
                }
                v
            }
            Err(text) => ev.eval_str(text, cwd)?,
        };
        let mut drvs = Vec::new();
        for attr in each_attr(&attrs) {
            drvs.extend(AutoArgs::derivations_with(ev, v.clone(), attr, &auto)?);
        }
        checked(drvs)
    })
}

/// Each `-A` path in turn, or the value itself when none was given.
fn each_attr(attrs: &[String]) -> Vec<Option<&str>> {
    if attrs.is_empty() {
        vec![None]
    } else {
        attrs.iter().map(|a| Some(a.as_str())).collect()
    }
}

/// The derivations, each of which must stand for an output (nix-build's check).
fn checked(drvs: Vec<(String, String)>) -> b8g_eval::EvalResult<FileKind> {
    if let Some((drv, _)) = drvs.iter().find(|(_, o)| o.is_empty()) {
        return b8g_eval::error::err(
            format!("derivation '{drv}' lacks an 'outputName' attribute"),
            Pos::NONE,
        );
    }
    Ok(FileKind::Derivations(drvs))
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
                attrs: attr.map(str::to_owned).into_iter().collect(),
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
        // Without the argument: nix-build's error, not a module's.
        assert!(
            kind_with("{ pkgs, lib ? null }: pkgs", AutoArgs::default(), None)
                .is_err_and(|e| e.contains(
                    "cannot evaluate a function that has an argument without a value ('pkgs')"
                ))
        );
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

    /// Package files and package sets in the shapes nixpkgs uses are not modules;
    /// modules that set any option namespace, or need `options`, are.
    #[test]
    fn package_sets_and_modules_in_their_usual_shapes() {
        const DRV: &str = "{ type = \"derivation\"; name = \"x\"; outputName = \"out\"; \
                           drvPath = \"/b8g/store/00000000000000000000000000000000-x.drv\"; }";
        let drvs = FileKind::Derivations(vec![(
            "/b8g/store/00000000000000000000000000000000-x.drv".into(),
            "out".into(),
        )]);
        let none = AutoArgs::default;
        for (file, attr) in [
            // nixpkgs' own entry point: defaults for everything, a `config` among them.
            (
                format!("{{ system ? \"x\", config ? {{ }}, overlays ? [ ], ... }} @ args: {{ inherit config; hello = {DRV}; }}"),
                Some("hello"),
            ),
            (format!("{{ hello = {DRV}; services = {{ nginx = {DRV}; }}; }}"), Some("hello")),
            (format!("{{ hello = {DRV}; options = {{ withFoo = true; }}; }}"), Some("hello")),
            (format!("{{ pkgs ? {{ config = {{ }}; hello = {DRV}; }} }}: pkgs"), Some("hello")),
        ] {
            assert_eq!(kind_with(&file, none(), attr), Ok(drvs.clone()), "{file}");
        }
        // A package file: nix-build's error names the first missing argument.
        let e = kind_with("{ lib, stdenv, fetchurl }: 1", none(), None).expect_err("no args");
        assert!(
            e.contains(
                "cannot evaluate a function that has an argument without a value ('fetchurl')"
            ),
            "{e}"
        );
        // nix-build does not call `x: …`.
        assert!(kind_with("args: { services.x = 1; }", none(), None)
            .is_err_and(|e| e.contains("does not evaluate to a derivation")));
        for module in [
            "{ time.timeZone = \"Europe/Berlin\"; security.sudo.enable = true; }",
            "{ ... }: { system.image.format = \"ext4\"; }",
            "{ options, ... }: { }",
            "{ imports = [ ]; myapp.enable = true; }",
            "{ lib, ... }: { options.x = lib.mkOption { }; }",
        ] {
            assert_eq!(kind(module), FileKind::System, "{module}");
        }
    }

    /// Every option namespace of b8g's system modules is in `MODULE_NAMES`, so a
    /// module setting any of them alone is one.
    #[test]
    fn module_names_cover_the_system_modules_options() {
        let recipes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes");
        let expr = format!(
            "let r = {}; in builtins.concatStringsSep \" \" (builtins.attrNames \
             (import (r + \"/eval-config.nix\") \
               {{ modules = [ ]; pkgs = import (r + \"/pkgs\") {{ }}; }}).options)",
            recipes.canonicalize().expect("recipes").display()
        );
        let names = EvalSession::dry_run(StoreDir::default())
            .run(move |ev, cwd| {
                let v = ev.eval_str(&expr, cwd)?;
                ev.force_string_noctx(v, Pos::NONE)
            })
            .expect("evaluates");
        let names: Vec<&str> = names.split(' ').collect();
        assert!(names.len() > 10, "{names:?}");
        for n in names.into_iter().filter(|n| *n != "_module") {
            assert!(
                MODULE_NAMES.contains(&n),
                "{n} is missing from MODULE_NAMES"
            );
        }
    }

    /// `b8g-build '<name>'` looks the file up on the search path, as nix-build does.
    #[test]
    fn a_file_in_angle_brackets_is_looked_up_on_the_search_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("np")).expect("mkdir");
        std::fs::write(
            dir.path().join("np/default.nix"),
            "{ a = { type = \"derivation\"; name = \"x\"; outputName = \"out\"; \
             drvPath = \"/b8g/store/00000000000000000000000000000000-x.drv\"; }; }",
        )
        .expect("write");
        let source = Source::from_arg(std::path::Path::new("<np>"), dir.path());
        assert!(matches!(source, Source::Lookup(ref n) if n == "<np>"));
        let got = instantiate_file(
            EvalSession::dry_run(StoreDir::default()),
            FileEval {
                source,
                attrs: vec!["a".into()],
                args: AutoArgs::default(),
                search_path: vec![("np".into(), dir.path().join("np").display().to_string())],
                cwd: dir.path().to_owned(),
            },
        )
        .expect("evaluates");
        assert!(matches!(got, FileKind::Derivations(d) if d.len() == 1));
    }
}
