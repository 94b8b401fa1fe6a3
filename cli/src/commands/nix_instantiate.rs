//! `b8g` called as `nix-instantiate` (a link of that name, as `b8gctl` stands
//! in for `systemctl`): Nix 2.8's command line, so scripts written for Nix
//! run unchanged, nixpkgs' `lib/tests/modules.sh` among them.
//!
//! Arguments are parsed by hand because Nix's syntax is not clap's: `-E`
//! makes every operand an expression, options may follow operands, and
//! `--arg NAME EXPR` takes two values. Output and exit codes are Nix's: one
//! value per operand and attribute path, JSON without a final newline,
//! `error: …` on stderr and exit 1.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use b8g_builder::glue::{auto_args, AutoArg, AutoArgs, EvalSession, SessionError};
use b8g_eval::{
    auto_call, derivation_paths, value_to_text, Attrs, EvalResult, Evaluator, OutputMode, Pos,
    Value,
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
    from_args: bool,
    from_stdin: bool,
    attr_paths: Vec<String>,
    /// `--arg` (an expression) and `--argstr` (a string), in order.
    auto_args: AutoArgs,
    include: Vec<String>,
    operands: Vec<String>,
    store: Option<String>,
}

const USAGE: &str = "usage: nix-instantiate [--eval [--strict] [--json|--xml]] [-E] \
[-A ATTR] [--arg NAME EXPR] [--argstr NAME STRING] [-I PATH] [--read-write-mode] FILES…";

fn parse(args: &[String]) -> Result<Invocation> {
    let mut inv = Invocation {
        xml_locations: true,
        ..Invocation::default()
    };
    let mut it = args.iter();
    let value = |it: &mut std::slice::Iter<'_, String>, opt: &str| -> Result<String> {
        it.next()
            .cloned()
            .with_context(|| format!("option '{opt}' requires an argument"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--eval" | "--eval-only" => inv.eval_only = true,
            "--strict" => inv.strict = true,
            "--json" => inv.json = true,
            "--xml" => inv.xml = true,
            "--no-location" => inv.xml_locations = false,
            "--read-write-mode" => inv.read_write = true,
            "--readonly-mode" => inv.read_write = false,
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
            // Build and logging settings: nothing to build here, and b8g's
            // errors carry their trace already.
            "--show-trace" | "-v" | "--verbose" | "--quiet" | "--no-build-output" | "-Q"
            | "--indirect" | "--keep-going" | "-k" => {}
            "--timeout" | "--max-jobs" | "-j" | "--cores" | "--max-silent-time" => {
                value(&mut it, a)?;
            }
            "--option" => {
                let name = value(&mut it, a)?;
                let v = value(&mut it, a)?;
                tracing::debug!("nix-instantiate: ignoring --option {name} {v}");
            }
            "--parse" => {
                bail!("--parse is not supported by b8g (it prints Nix's internal syntax tree)")
            }
            "--add-root" => bail!("--add-root is not supported yet by b8g's nix-instantiate"),
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
            Source::File(cwd.join(o))
        });
    }
    // Evaluation alone writes nothing unless asked to (Nix's read-only mode);
    // instantiation writes the `.drv` files.
    let writes = !inv.eval_only || inv.read_write;
    let session = match (&inv.store, writes) {
        (Some(s), _) if s.starts_with("dummy://") => EvalSession::pure(),
        (_, true) => EvalSession::writing(global.open_store()?),
        (_, false) => EvalSession::dry_run(global.store_config()?.store_dir),
    };
    let session = session
        .search_path(auto_args::search_path(&inv.include))
        .base_dir(&cwd);
    let r = session.run(move |ev, cwd| {
        let mut out = Vec::new();
        for src in &sources {
            let root = match src {
                Source::Expr(e) => ev.eval_str(e, cwd)?,
                Source::File(f) => ev.eval_file(&file_arg(f).to_string_lossy())?,
            };
            let args = inv.auto_args.attrs(ev, cwd)?;
            for path in &inv.attr_paths {
                let v = find_along_attr_path(ev, root.clone(), path, &args)?;
                out.push(render(ev, v, &inv, &args)?);
            }
        }
        Ok(out)
    });
    match r {
        Ok(outputs) => {
            let mut stdout = std::io::stdout().lock();
            for o in outputs {
                stdout.write_all(o.as_bytes())?;
            }
            stdout.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(SessionError::Eval { message, .. }) => {
            eprintln!("{}", super::ansi::for_stderr(&message));
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// A directory operand means its `default.nix`, as in Nix.
fn file_arg(f: &Path) -> PathBuf {
    if f.is_dir() {
        f.join("default.nix")
    } else {
        f.to_owned()
    }
}

/// Nix's `findAlongAttrPath`: before each selection the value is called
/// with the automatic arguments if it is a function taking a set; the value
/// reached is not called.
fn find_along_attr_path(
    ev: &mut Evaluator,
    mut v: Value,
    path: &str,
    args: &Attrs,
) -> EvalResult<Value> {
    for part in split_attr_path(path) {
        v = auto_call(ev, v, args)?;
        v = match (&v, part.parse::<usize>()) {
            (Value::List(l), Ok(i)) => match l.get(i) {
                Some(x) => x.clone(),
                None => {
                    return b8g_eval::error::err(
                        format!("list index {i} in selection path '{path}' is out of range"),
                        Pos::NONE,
                    )
                }
            },
            (Value::Attrs(a), _) => match a.get(&part) {
                Some(x) => x.clone(),
                None => {
                    return b8g_eval::error::err(
                        format!("attribute '{part}' in selection path '{path}' not found"),
                        Pos::NONE,
                    )
                }
            },
            (other, _) => {
                return b8g_eval::error::err(
                    format!(
                        "the expression selected by the selection path '{path}' should be a set but is {}",
                        other.show_type()
                    ),
                    Pos::NONE,
                )
            }
        };
    }
    ev.force(v)
}

/// `a."b.c".d` → `a`, `b.c`, `d`.
fn split_attr_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in path.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || !parts.is_empty() {
        parts.push(cur);
    }
    parts
}

fn render(ev: &mut Evaluator, v: Value, inv: &Invocation, args: &Attrs) -> EvalResult<String> {
    if !inv.eval_only {
        let v = auto_call(ev, v, args)?;
        let mut out = String::new();
        for p in derivation_paths(ev, v)? {
            out.push_str(&p);
            out.push('\n');
        }
        return Ok(out);
    }
    let v = if args.attrs.is_empty() {
        v
    } else {
        auto_call(ev, v, args)?
    };
    if inv.xml {
        let mut ctx = b8g_eval::Context::new();
        return b8g_eval::xml::to_xml(ev, v, inv.strict, inv.xml_locations, &mut ctx);
    }
    if inv.json {
        // Nix prints JSON without a final newline.
        return value_to_text(ev, v, OutputMode::Json);
    }
    let mode = if inv.strict {
        OutputMode::Strict
    } else {
        OutputMode::Lazy
    };
    Ok(value_to_text(ev, v, mode)? + "\n")
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
    fn attr_paths_split_on_unquoted_dots() {
        assert!(split_attr_path("").is_empty());
        assert_eq!(split_attr_path("a.b"), ["a", "b"]);
        assert_eq!(split_attr_path("a.\"b.c\".d"), ["a", "b.c", "d"]);
    }
}
