//! Sources: compiling text, files and imports (cached by path), and
//! `<name>` lookups in the search path.

use crate::compile::{Compiler, Expr};
use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::value::{Sym, Value};

use super::{io_msg, Evaluator};

impl Evaluator {
    /// Parses and compiles source text; `name` is shown in errors, `base_dir` resolves relative paths.
    pub fn compile(&mut self, src: &str, name: &str, base_dir: &str) -> EvalResult<&'static Expr> {
        let file = crate::error::add_source(name.to_string(), src.into());
        let mut c = Compiler::new(file, base_dir.to_string(), self.global_names.clone());
        let e = c.compile_root(src)?;
        Ok(Box::leak(Box::new(e)))
    }

    /// Evaluates an expression given as text (like `-E`), to weak head normal form.
    pub fn eval_str(&mut self, src: &str, base_dir: &str) -> EvalResult<Value> {
        let e = self.compile(src, "«string»", base_dir)?;
        let env = self.globals.clone();
        self.eval(e, &env)
    }

    /// Parses and compiles source text now and returns its value unevaluated, as
    /// Nix does for `--arg NAME EXPR`: a syntax error is reported at once, an
    /// evaluation error only when the value is used.
    pub fn lazy_str(&mut self, src: &str, base_dir: &str) -> EvalResult<Value> {
        let e = self.compile(src, "«string»", base_dir)?;
        let env = self.globals.clone();
        Ok(self.lazy(e, &env))
    }

    /// Evaluates a file (like `import`), to weak head normal form.
    pub fn eval_file(&mut self, path: &str) -> EvalResult<Value> {
        let v = self.import(path, Pos::NONE)?;
        self.force(v)
    }

    pub(crate) fn import(&mut self, path: &str, pos: Pos) -> EvalResult<Value> {
        let file = self.resolve_expr_path(path)?;
        self.import_file(file, pos)
    }

    /// The value of the file an imported path names (`resolve_expr_path`), cached.
    fn import_file(&mut self, file: String, pos: Pos) -> EvalResult<Value> {
        if let Some(v) = self.import_cache.get(&file) {
            return Ok(v.clone());
        }
        let e = self.parse_file(&file, pos, None)?;
        let env = self.globals.clone();
        let v = self.lazy(e, &env);
        self.import_cache.insert(file, v.clone());
        Ok(v)
    }

    /// `import`: the file's value, evaluated; an error while evaluating it (not a
    /// value it returned, forced later) gets Nix's frame naming the file.
    pub(crate) fn import_forced(&mut self, path: &str, pos: Pos) -> EvalResult<Value> {
        let file = self.resolve_expr_path(path)?;
        let v = self.import_file(file.clone(), pos)?;
        self.force(v).map_err(|mut e| {
            e.add_frame(Pos::NONE, format!("while evaluating the file '{file}':"));
            e
        })
    }

    /// The file an imported path names: a directory's `default.nix`, which must exist
    /// (Nix then fails to open it; a missing path itself fails to be looked at).
    pub(crate) fn resolve_expr_path(&mut self, path: &str) -> EvalResult<String> {
        let path = crate::compile::canon_path(path);
        if let Ok(crate::io::FileType::Directory) = self.io.file_type(&path) {
            let file = format!("{path}/default.nix");
            if !self.io.path_exists(&file) {
                return Err(EvalError::new(
                    ErrorKind::Io,
                    format!("opening file '{file}': No such file or directory"),
                    Pos::NONE,
                ));
            }
            return Ok(file);
        }
        Ok(path)
    }

    pub(crate) fn parse_file(
        &mut self,
        path: &str,
        pos: Pos,
        extra_scope: Option<Vec<Sym>>,
    ) -> EvalResult<&'static Expr> {
        let bytes = match corepkg(path) {
            Some(src) => Ok(src.as_bytes().to_vec()),
            None => self.io.read_file(path),
        };
        let bytes = bytes.map_err(|e| {
            EvalError::new(
                ErrorKind::Io,
                format!("getting status of '{path}': {}", io_msg(&e)),
                pos,
            )
        })?;
        // Valid UTF-8 (nearly every file) is taken as it is, without a copy.
        let src = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let dir = match path.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => path[..i].to_string(),
            None => ".".to_string(),
        };
        let file = crate::error::add_source(path.to_string(), src.as_str().into());
        let mut c = Compiler::new(file, dir, self.global_names.clone());
        // `scopedImport`'s frame is there even when its set is empty.
        if let Some(names) = extra_scope {
            c.push_scope(names);
        }
        let e = c.compile_root(&src)?;
        Ok(Box::leak(Box::new(e)))
    }

    pub(super) fn find_file(&mut self, name: &str, pos: Pos) -> EvalResult<Value> {
        for (prefix, dir) in self.opts.search_path.clone() {
            let rest = if prefix.is_empty() {
                Some(name.to_string())
            } else if name == prefix {
                Some(String::new())
            } else {
                name.strip_prefix(&format!("{prefix}/"))
                    .map(|s| s.to_string())
            };
            if let Some(rest) = rest {
                let full = if rest.is_empty() {
                    dir.clone()
                } else {
                    format!("{dir}/{rest}")
                };
                if self.io.path_exists(&full) {
                    return Ok(Value::Path(crate::compile::canon_path(&full).into()));
                }
            }
        }
        // Nix ends the search path with `nix=/__corepkgs__`, its built-in files.
        if let Some(file) = name.strip_prefix("nix/") {
            let path = format!("{COREPKGS_DIR}/{file}");
            if corepkg(&path).is_some() {
                return Ok(Value::Path(path.into()));
            }
        }
        err(
            format!(
                "file '{name}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
            ),
            pos,
        )
    }
}

/// The source of a built-in expression, by its path under `COREPKGS_DIR`.
pub(super) fn corepkg(path: &str) -> Option<&'static str> {
    match path.strip_prefix(COREPKGS_DIR)? {
        "/fetchurl.nix" => Some(include_str!("../corepkgs/fetchurl.nix")),
        _ => None,
    }
}

/// Where Nix's built-in expressions (`<nix/fetchurl.nix>`) appear to live.
pub(super) const COREPKGS_DIR: &str = "/__corepkgs__";
