//! `builtin:b8g-unikernel`: the kernel, initramfs and manifest of a unikernel
//! image, built in-process.
//!
//! Inputs (derivation attributes, written by `recipes/unikernel`):
//! - `kernel`: a package with `vmlinuz` (and `lib/modules/<version>` when modules are wanted);
//! - `shim`: the static `b8g-unikernel-shim`, which becomes `/init`;
//! - `storeDir`: the logical store directory;
//! - `roots`: store paths (or paths inside them) whose closures go into the image;
//! - `modules`: kernel module names to load (dependencies are added, built-ins skipped);
//! - `config`: the shim's configuration ([`b8g_layout::unikernel::config`]); the
//!   builder appends one `module=` line per module, in load order;
//! - `layout`: extra entries, one per line, tab-separated, values escaped as in
//!   [`super::escape`]: `text<TAB>/dest<TAB>mode<TAB>contents` or `copy<TAB>/dest<TAB>store-path`;
//! - `manifest`: the text of the output's `manifest` (see [`super::manifest`]).
//!
//! The output is a directory with `kernel` (a copy of the kernel image),
//! `initrd` (an uncompressed, reproducible newc archive) and `manifest`.

use super::closure;
use crate::linux::initramfs::Initramfs;
use crate::linux::modules::ModuleIndex;
use crate::linux::stage1::single_subdir;
use b8g_builder::builtin::{BuiltinBuilder, BuiltinContext, BuiltinError};
use b8g_layout::unikernel::config;
use std::path::PathBuf;

/// The `b8g-unikernel` builtin builder.
pub struct UnikernelBuilder;

const NAME: &str = "b8g-unikernel";

fn other(e: impl ToString) -> BuiltinError {
    BuiltinError::Other(e.to_string())
}

/// Where a store path found by scanning is (not followed when it is itself a
/// symlink), or `None` when it is not in the
/// input closure (a false match, or a path the derivation did not depend on:
/// a builtin reads only its inputs).
pub(crate) fn closure_member(
    cx: &BuiltinContext<'_>,
    logical: &str,
) -> Result<Option<PathBuf>, BuiltinError> {
    if cx.inputs.in_closure(logical) {
        cx.inputs.member(logical).map(Some)
    } else {
        Ok(None)
    }
}

/// One extra entry of the `layout` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutEntry {
    Text {
        dest: String,
        mode: u32,
        contents: String,
    },
    Copy {
        dest: String,
        source: String,
    },
}

/// Parses the `layout` attribute.
pub fn parse_layout(text: &str) -> Result<Vec<LayoutEntry>, String> {
    let mut out = Vec::new();
    // Split on \n only: `lines()` would also drop a `\r` that ends a value.
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |why: &dyn std::fmt::Display| format!("layout line {}: {why}: {line:?}", n + 1);
        match f.as_slice() {
            ["text", dest, mode, contents] => out.push(LayoutEntry::Text {
                dest: super::unescape(dest).map_err(|e| bad(&e))?,
                mode: u32::from_str_radix(mode, 8).map_err(|_| bad(&"bad octal mode"))?,
                contents: super::unescape(contents).map_err(|e| bad(&e))?,
            }),
            ["copy", dest, source] => out.push(LayoutEntry::Copy {
                dest: super::unescape(dest).map_err(|e| bad(&e))?,
                source: super::unescape(source).map_err(|e| bad(&e))?,
            }),
            _ => return Err(bad(&"expected text/dest/mode/contents or copy/dest/source")),
        }
    }
    Ok(out)
}

impl BuiltinBuilder for UnikernelBuilder {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        let kernel = cx.attr("kernel", NAME)?;
        let shim = cx.attr("shim", NAME)?;
        let store_dir = cx.attr("storeDir", NAME)?.trim_end_matches('/');
        let roots: Vec<&str> = cx.attr("roots", NAME)?.split_whitespace().collect();
        let wanted: Vec<&str> = cx.attr("modules", NAME)?.split_whitespace().collect();
        let mut config = cx.attr("config", NAME)?.to_string();
        let layout = parse_layout(cx.attr("layout", NAME)?).map_err(other)?;
        let manifest = cx.attr("manifest", NAME)?;
        super::manifest::Manifest::parse(manifest).map_err(other)?;

        let mut img = Initramfs::new();
        img.host_file("init", &cx.resolve(shim)?).map_err(other)?;
        // The kernel opens /dev/console for PID 1 before anything is mounted.
        img.char_dev("dev/console", 0o600, 5, 1).map_err(other)?;
        img.char_dev("dev/null", 0o666, 1, 3).map_err(other)?;
        for d in ["proc", "sys"] {
            img.dir(d, 0o755).map_err(other)?;
        }
        img.dir("tmp", 0o1777).map_err(other)?;

        // Kernel modules, each after its dependencies.
        if !wanted.is_empty() {
            let version_dir = single_subdir(cx, &format!("{kernel}/lib/modules"))?;
            let index = ModuleIndex::scan(&version_dir).map_err(other)?;
            if !config.is_empty() && !config.ends_with('\n') {
                config.push('\n');
            }
            for path in index.load_order(&wanted).map_err(other)? {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .ok_or_else(|| other(format!("{} has no file name", path.display())))?;
                img.host_file(&format!("lib/modules/{name}"), &path)
                    .map_err(other)?;
                config.push_str(&config::line(
                    config::MODULE,
                    &format!("/lib/modules/{name}"),
                ));
            }
        }
        // The initramfs takes paths relative to its root.
        img.file(config::PATH.trim_start_matches('/'), 0o644, config.clone())
            .map_err(other)?;

        // The application's store closure, at its logical paths.
        // Store paths named in the arguments, environment or files come along too.
        let mut named = std::collections::BTreeSet::new();
        closure::scan(store_dir, config.as_bytes(), &mut named);
        closure::scan(store_dir, cx.attr("layout", NAME)?.as_bytes(), &mut named);
        // Named roots must be inputs; what the scan finds is left out when it is not.
        for r in &roots {
            cx.open(r)?;
        }
        let mut all_roots: Vec<&str> = roots.clone();
        all_roots.extend(named.iter().map(String::as_str));
        let closure = closure::closure(store_dir, &all_roots, &|p: &str| closure_member(cx, p))
            .map_err(other)?;
        for p in &closure {
            // As it is: a store path that is a symlink stays one.
            img.host_tree(p, &cx.inputs.member(p)?).map_err(other)?;
        }
        for e in &layout {
            match e {
                LayoutEntry::Text {
                    dest,
                    mode,
                    contents,
                } => {
                    img.file(dest, *mode, contents.as_bytes().to_vec())
                        .map_err(other)?;
                }
                LayoutEntry::Copy { dest, source } => {
                    let input = cx.open(source)?;
                    if input.is_dir() {
                        img.host_tree(dest, input.path()).map_err(other)?;
                    } else {
                        img.host_file(dest, input.path()).map_err(other)?;
                    }
                }
            }
        }

        let out = cx.out()?;
        out.create_dir("", 0o755)?;
        out.copy_from(cx.open(&format!("{kernel}/vmlinuz"))?, "kernel", 0o444)?;
        crate::linux::stage1::write_initrd(&img, &out, "initrd")?;
        out.write_file("manifest", manifest.as_bytes(), 0o444)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_lines_parse() {
        let l =
            parse_layout("text\t/www/index.html\t644\thello\\n\ncopy\t/etc/x\t/s/store/abc-x\n")
                .unwrap();
        assert_eq!(
            l,
            [
                LayoutEntry::Text {
                    dest: "/www/index.html".into(),
                    mode: 0o644,
                    contents: "hello\n".into()
                },
                LayoutEntry::Copy {
                    dest: "/etc/x".into(),
                    source: "/s/store/abc-x".into()
                }
            ]
        );
        assert!(parse_layout("text\t/a\t9z\tx").is_err());
        assert!(parse_layout("link\t/a\t/b").is_err());
    }
}
