//! `b8g` called as `nix-instantiate` (a link of that name, as `b8gctl` stands
//! in for `systemctl`): Nix 2.8's command line, so scripts written for Nix
//! run unchanged, nixpkgs' `lib/tests/modules.sh` among them.
//!
//! Arguments are parsed by hand because Nix's syntax is not clap's: `-E`
//! makes every operand an expression, options may follow operands, and
//! `--arg NAME EXPR` takes two values. Output and exit codes are Nix's: one
//! value per operand and attribute path, JSON without a final newline,
//! `error: …` on stderr and exit 1 (usage errors add Nix's "Try …" line).
//! Errors show their trace only with `--show-trace`. `--add-root` makes each
//! `.drv` an indirect GC root and prints the root instead.
//!
//! `--parse` is refused: Nix 2.8 prints the bindings of a `let` in the
//! memory order of its interned symbols (`let a = 1; type = 2; in a` prints
//! `type` first, `type` being interned at start-up), which b8g cannot
//! reproduce, and printing something else would mislead.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use b8g_builder::glue::{auto_args, parallel, AutoArg, AutoArgs, EvalSession, SessionError};
use b8g_eval::{
    auto_call, derivation_outputs, find_along_attr_path, value_to_text, Attrs, EvalResult,
    Evaluator, OutputMode, Pos, Value,
};

use super::GlobalArgs;

/// What the command line asked for.
#[derive(Debug, Default)]
struct Invocation {
    eval_only: bool,
    strict: bool,
    json: bool,
    xml: bool,
    xml_locations: bool,
    read_write: bool,
    /// `--readonly-mode`: nothing is written, instantiation included.
    readonly: bool,
    from_args: bool,
    from_stdin: bool,
    attr_paths: Vec<String>,
    /// `--arg` (an expression) and `--argstr` (a string), in order.
    auto_args: AutoArgs,
    include: Vec<String>,
    operands: Vec<String>,
    store: Option<String>,
    show_trace: bool,
    /// `--add-root`: the GC root to make for the (first) `.drv`.
    gc_root: Option<String>,
    no_gc_warning: bool,
}

const USAGE: &str = "usage: nix-instantiate [--eval [--strict] [--json|--xml]] [-E] \
[-A ATTR] [--arg NAME EXPR] [--argstr NAME STRING] [-I PATH] [--read-write-mode] \
[--add-root PATH [--indirect]] [--show-trace] FILES…";

/// Nix's "Try … --help" line that follows a usage error.
const TRY_HELP: &str = "Try 'nix-instantiate --help' for more information.";

/// Nix's `string2IntWithUnitPrefix<uint64_t>` for `--timeout`, `--cores`
/// and `--max-silent-time`: digits with an optional K, M, G or T suffix.
fn int_with_unit_prefix(s: &str) -> Result<u64> {
    let mut digits = s;
    let mut multiplier: u64 = 1;
    if let Some(last) = s.chars().next_back() {
        let u = last.to_ascii_uppercase();
        if u.is_ascii_alphabetic() {
            multiplier = match u {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => bail!("invalid unit specifier '{u}'\n{TRY_HELP}"),
            };
            digits = &s[..s.len() - 1];
        }
    }
    match digits.parse::<u64>() {
        // Nix multiplies without checking for overflow.
        Ok(n) if !digits.starts_with('-') => Ok(n.wrapping_mul(multiplier)),
        _ => bail!("'{digits}' is not an integer\n{TRY_HELP}"),
    }
}

fn parse(args: &[String]) -> Result<Invocation> {
    let mut inv = Invocation {
        xml_locations: true,
        ..Invocation::default()
    };
    let mut it = args.iter();
    // Nix words a missing value in two ways: its common flags (registered
    // with `addFlag`) count their arguments, nix-instantiate's own do not.
    let value = |it: &mut std::slice::Iter<'_, String>, opt: &str| -> Result<String> {
        let wanted = match opt {
            "--arg" | "--argstr" | "--option" => Some(2),
            "-A" | "--attr" | "--add-root" => None,
            _ => Some(1),
        };
        it.next().cloned().with_context(|| match wanted {
            Some(n) => format!("flag '{opt}' requires {n} argument(s)\n{TRY_HELP}"),
            None => format!("'{opt}' requires an argument\n{TRY_HELP}"),
        })
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--eval" | "--eval-only" => inv.eval_only = true,
            "--strict" => inv.strict = true,
            "--json" => inv.json = true,
            "--xml" => inv.xml = true,
            "--no-location" => inv.xml_locations = false,
            "--read-write-mode" => inv.read_write = true,
            "--readonly-mode" => inv.readonly = true,
            "-E" | "--expr" => inv.from_args = true,
            "-A" | "--attr" => inv.attr_paths.push(value(&mut it, a)?),
            "--arg" => {
                let name = value(&mut it, a)?;
                inv.auto_args.push(name, AutoArg::Expr(value(&mut it, a)?));
            }
            "--argstr" => {
                let name = value(&mut it, a)?;
                inv.auto_args.push(name, AutoArg::Str(value(&mut it, a)?));
            }
            "-I" | "--include" => inv.include.push(value(&mut it, a)?),
            "--store" => inv.store = Some(value(&mut it, a)?),
            "--show-trace" => inv.show_trace = true,
            "--add-root" => inv.gc_root = Some(value(&mut it, a)?),
            "--no-gc-warning" => inv.no_gc_warning = true,
            // Nix 2.8 accepts `--indirect` and ignores it: every root made
            // outside the GC roots directory is indirect.
            "--indirect" => {}
            // Logging and build settings: nix-instantiate builds nothing, so
            // they only have to be valid.
            "-v" | "--verbose" | "--quiet" | "--no-build-output" | "-Q" | "--keep-going" | "-k"
            | "--keep-failed" | "-K" | "--fallback" => {}
            "--timeout" | "--cores" | "--max-silent-time" => {
                int_with_unit_prefix(&value(&mut it, a)?)?;
            }
            "--max-jobs" | "-j" => {
                value(&mut it, a)?;
            }
            "--option" => {
                let name = value(&mut it, a)?;
                let v = value(&mut it, a)?;
                tracing::debug!("nix-instantiate: ignoring --option {name} {v}");
            }
            "--parse" | "--parse-only" => bail!(
                "--parse is not supported by b8g: Nix 2.8 prints the bindings of a 'let' in the \
                 memory order of its interned symbols, which b8g cannot reproduce\n{TRY_HELP}"
            ),
            "--help" => bail!("{USAGE}"),
            "-" => inv.from_stdin = true,
            s if s.starts_with("-I") && s.len() > 2 => inv.include.push(s[2..].to_owned()),
            s if s.starts_with('-') && s.len() > 1 => {
                bail!("unrecognised flag '{s}'\nTry 'nix-instantiate --help' for more information.")
            }
            _ => inv.operands.push(a.clone()),
        }
    }
    if inv.operands.is_empty() && !inv.from_args && !inv.from_stdin {
        inv.operands.push("./default.nix".into());
    }
    if inv.attr_paths.is_empty() {
        inv.attr_paths.push(String::new());
    }
    Ok(inv)
}

/// What one operand is: a file to import, or the text of an expression.
enum Source {
    File(PathBuf),
    Expr(String),
    /// `<nixpkgs>`: a file found on the search path.
    Lookup(String),
}

/// Entry point when called as `nix-instantiate`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.iter().any(|a| a == "--version") {
        println!(
            "nix-instantiate (b8g) {}, Nix 2.8.0 compatible",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let inv = parse(args)?;
    if inv.xml && inv.json {
        bail!("--xml and --json cannot be used together");
    }
    let global = GlobalArgs::from_env();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut sources = Vec::new();
    if inv.from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the expression from standard input")?;
        sources.push(Source::Expr(text));
    }
    for o in &inv.operands {
        sources.push(if inv.from_args {
            Source::Expr(o.clone())
        } else {
            if o.len() > 2 && o.starts_with('<') && o.ends_with('>') {
                Source::Lookup(o.clone())
            } else {
                Source::File(cwd.join(o))
            }
        });
    }
    // Evaluation alone writes nothing unless asked to (Nix's read-only mode);
    // instantiation writes the `.drv` files, unless --readonly-mode says not to.
    let writes = (!inv.eval_only || inv.read_write) && !inv.readonly;
    let (store, include, show_trace) = (inv.store.clone(), inv.include.clone(), inv.show_trace);
    let make_session = || -> Result<EvalSession> {
        let session = match (&store, writes) {
            // Nix's dummy store refuses writes; in read-only mode it computes
            // paths, as the dry run below does.
            (Some(s), true) if s.starts_with("dummy://") => EvalSession::pure(),
            (_, true) => EvalSession::writing(global.open_store()?),
            (_, false) => EvalSession::dry_run(global.store_config()?.store_dir),
        };
        let session = session
            .search_path(auto_args::search_path(&include))
            .base_dir(&cwd);
        Ok(if show_trace {
            session
        } else {
            session.hide_trace()
        })
    };
    let gc_root = inv.gc_root.clone();
    let gc_warning = !inv.no_gc_warning;
    // One job per operand and attribute path, in Nix's order; independent
    // jobs run on several threads (`parallel`), with the same results.
    let jobs = sources.len() * inv.attr_paths.len();
    let per_source = inv.attr_paths.len();
    let inv = std::sync::Arc::new(inv);
    let sources = std::sync::Arc::new(sources);
    let job_inv = std::sync::Arc::clone(&inv);
    // Lazily printed values show what was forced before them, which differs
    // between one evaluator and several: those run on one thread.
    let threads = if inv.eval_only && !inv.strict && !inv.json {
        1
    } else {
        parallel::default_threads()
    };
    // Results are printed as they come, in order (so traces fall between them
    // as in Nix's output); a failed write or root stops the run.
    let printed: std::sync::Arc<std::sync::Mutex<Option<anyhow::Error>>> = Default::default();
    let print_failure = std::sync::Arc::clone(&printed);
    let mut roots = Roots::new(gc_root.as_deref(), &cwd, gc_warning);
    let print_global = global.clone();
    let emit = move |o: Output| {
        let r = print_output(&mut roots, &print_global, o);
        match r {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(e) => {
                *print_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                std::ops::ControlFlow::Break(())
            }
        }
    };
    let failure = parallel::run_jobs(
        make_session,
        jobs,
        threads,
        move |ev, cwd, roots: &mut std::collections::HashMap<usize, (Value, Attrs)>, i| {
            let inv = &*job_inv;
            let s = i / per_source;
            // Each operand is evaluated once per evaluator, as Nix evaluates it once.
            let (root, args) = match roots.get(&s) {
                Some(r) => r.clone(),
                None => {
                    // The arguments first: Nix parses them before any operand.
                    let args = inv.auto_args.attrs(ev, cwd)?;
                    let root = match &sources[s] {
                        Source::Expr(e) => ev.eval_str(e, cwd)?,
                        Source::File(f) => ev.eval_file(&file_arg(f).to_string_lossy())?,
                        Source::Lookup(name) => match ev.eval_str(name, cwd)? {
                            Value::Path(p) => {
                                ev.eval_file(&file_arg(Path::new(p.as_str())).to_string_lossy())?
                            }
                            other => other,
                        },
                    };
                    roots.insert(s, (root.clone(), args.clone()));
                    (root, args)
                }
            };
            let v = find_along_attr_path(ev, root, &inv.attr_paths[i % per_source], &args)?;
            render(ev, v, inv, &args)
        },
        emit,
    )?;
    if let Some(e) = printed.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    let r: Result<(), SessionError> = failure.map_or(Ok(()), Err);
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(SessionError::Eval { message, kind }) => {
            eprintln!("{}", super::ansi::for_stderr(&message));
            // Nix's exit status for content that does not match its hash.
            Ok(match kind {
                b8g_eval::ErrorKind::HashMismatch => ExitCode::from(102),
                _ => ExitCode::FAILURE,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Prints one result as Nix does: a value, or the `.drv` paths (or the GC
/// roots made for them), `!output` for outputs other than `out`.
fn print_output(roots: &mut Roots, global: &GlobalArgs, o: Output) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match o {
        Output::Text(t) => stdout.write_all(t.as_bytes())?,
        Output::Drvs(drvs) => {
            for (drv, output) in drvs {
                let shown = roots.add(global, &drv)?;
                let suffix = if output == "out" {
                    String::new()
                } else {
                    format!("!{output}")
                };
                writeln!(stdout, "{shown}{suffix}")?;
            }
        }
    }
    stdout.flush()?;
    Ok(())
}

/// A directory operand means its `default.nix`, as in Nix.
fn file_arg(f: &Path) -> PathBuf {
    if f.is_dir() {
        f.join("default.nix")
    } else {
        f.to_owned()
    }
}

/// What one operand and attribute path printed: a value, or derivations
/// (`.drv` path and output name) to print once their roots are made.
enum Output {
    Text(String),
    Drvs(Vec<(String, String)>),
}

/// The GC roots `--add-root` asks for, as Nix 2.8 names them: the path
/// itself for the first derivation, `PATH-2`, `PATH-3`, … for the next.
struct Roots {
    base: Option<PathBuf>,
    made: usize,
    warn: bool,
}

impl Roots {
    fn new(root: Option<&str>, cwd: &Path, warn: bool) -> Roots {
        Roots {
            base: root.map(|r| canon_path(&cwd.join(r))),
            made: 0,
            warn,
        }
    }

    /// Makes the next root for `drv` and returns what to print: the root,
    /// or the `.drv` path when no root was asked for.
    fn add(&mut self, global: &super::GlobalArgs, drv: &str) -> Result<String> {
        let Some(base) = &self.base else {
            if self.warn {
                self.warn = false;
                eprintln!(
                    "warning: you did not specify '--add-root'; the result might be removed by the garbage collector"
                );
            }
            return Ok(drv.to_string());
        };
        self.made += 1;
        let root = if self.made > 1 {
            let mut r = base.clone().into_os_string();
            r.push(format!("-{}", self.made));
            PathBuf::from(r)
        } else {
            base.clone()
        };
        let store = global.open_store()?;
        let store_dir = store.store_dir().as_str().to_string();
        if root.starts_with(&store_dir) {
            bail!(
                "creating a garbage collector root ({}) in the Nix store is forbidden (are you running nix-build inside the store?)",
                root.display()
            );
        }
        // Nix does not clobber anything but a link into the store.
        if let Ok(meta) = std::fs::symlink_metadata(&root) {
            let into_store = meta.file_type().is_symlink()
                && std::fs::read_link(&root)
                    .is_ok_and(|t| store.resolve_arg(&t.to_string_lossy()).is_ok());
            if !into_store {
                bail!("cannot create symlink '{}'; already exists", root.display());
            }
        }
        let path = store
            .resolve_arg(drv)
            .with_context(|| format!("'{drv}' is not a store path"))?;
        let link = store
            .make_result_link(&root, &path)
            .with_context(|| format!("cannot create the GC root '{}'", root.display()))?;
        Ok(link.to_string_lossy().into_owned())
    }
}

/// Nix's `canonPath`: an absolute path without `.`, `..`, repeated or
/// trailing slashes, symlinks left alone.
fn canon_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn render(ev: &mut Evaluator, v: Value, inv: &Invocation, args: &Attrs) -> EvalResult<Output> {
    if !inv.eval_only {
        let drvs = derivation_outputs(ev, v, args)?;
        if let Some((drv, _)) = drvs.iter().find(|(_, o)| o.is_empty()) {
            return b8g_eval::error::err(
                format!("derivation '{drv}' lacks an 'outputName' attribute"),
                Pos::NONE,
            );
        }
        return Ok(Output::Drvs(drvs));
    }
    let v = if args.is_empty() {
        v
    } else {
        auto_call(ev, v, args)?
    };
    if inv.xml {
        let mut ctx = b8g_eval::Context::new();
        return b8g_eval::xml::to_xml(ev, v, inv.strict, inv.xml_locations, &mut ctx)
            .map(Output::Text);
    }
    if inv.json {
        // Nix prints JSON without a final newline.
        return value_to_text(ev, v, OutputMode::Json).map(Output::Text);
    }
    let mode = if inv.strict {
        OutputMode::Strict
    } else {
        OutputMode::Lazy
    };
    Ok(Output::Text(value_to_text(ev, v, mode)? + "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn parses_nix_instantiates_command_lines() {
        let inv = parse(&args(&[
            "--timeout",
            "1",
            "-E",
            "import ./x.nix",
            "-A",
            "config.a",
            "--eval-only",
            "--show-trace",
            "--read-write-mode",
            "--json",
        ]))
        .expect("parses");
        assert!(inv.eval_only && inv.json && inv.read_write && inv.from_args);
        assert_eq!(inv.operands, ["import ./x.nix"]);
        assert_eq!(inv.attr_paths, ["config.a"]);
        let inv = parse(&args(&[
            "--arg", "x", "1", "--argstr", "y", "s", "f.nix", "-Ifoo=/x",
        ]))
        .expect("parses");
        let mut expected = AutoArgs::default();
        expected.push("x", AutoArg::Expr("1".into()));
        expected.push("y", AutoArg::Str("s".into()));
        assert_eq!(inv.auto_args, expected);
        assert_eq!(inv.include, ["foo=/x"]);
        assert_eq!(inv.attr_paths, [""]);
        let inv = parse(&[]).expect("parses");
        assert_eq!(inv.operands, ["./default.nix"]);
        assert!(parse(&args(&["--frobnicate"])).is_err());
        assert!(parse(&args(&["-A"])).is_err());
    }

    #[test]
    fn settings_and_roots_are_read_as_nix_reads_them() {
        assert_eq!(int_with_unit_prefix("10").expect("plain"), 10);
        assert_eq!(int_with_unit_prefix("2k").expect("kilo"), 2048);
        assert_eq!(int_with_unit_prefix("+3").expect("plus"), 3);
        for bad in ["", "-1", "x", "1.5", "k"] {
            assert!(int_with_unit_prefix(bad).is_err(), "{bad}");
        }
        assert_eq!(
            canon_path(Path::new("/a/./b//../c/")),
            PathBuf::from("/a/c")
        );
        assert_eq!(canon_path(Path::new("/../x")), PathBuf::from("/x"));
    }
}
