//! `builtin:b8g-kernel`: the part of a kernel package a running system keeps,
//! built in-process — the kernel image and only the modules it loads.
//!
//! Inputs (derivation attributes): `kernel` (a package with `vmlinuz` and
//! `lib/modules/<version>`), `modules` (space-separated names; their
//! dependencies are added). The output:
//!
//! ```text
//! vmlinuz                                  copied, so the system's closure
//!                                          does not hold the whole package
//! lib/modules/<version>/<name>.ko          the modules and their dependencies
//! lib/modules/<version>/modules.dep        for modprobe (Debian's packages
//! lib/modules/<version>/modules.builtin      ship none; depmod writes it)
//! ```

use std::collections::BTreeMap;
use std::io::Write;

use super::modules::ModuleIndex;
use super::stage1::single_subdir;
use b8g_builder::builtin::{BuiltinBuilder, BuiltinContext, BuiltinError};

/// The `b8g-kernel` builtin builder.
pub struct KernelTreeBuilder;

impl BuiltinBuilder for KernelTreeBuilder {
    fn name(&self) -> &'static str {
        "b8g-kernel"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        let kernel = cx.attr("kernel", "b8g-kernel")?;
        let wanted: Vec<&str> = cx
            .attr("modules", "b8g-kernel")?
            .split_whitespace()
            .collect();
        let version_dir = single_subdir(cx, &format!("{kernel}/lib/modules"))?;
        let version = version_dir
            .file_name()
            .map(|v| v.to_string_lossy().into_owned())
            .ok_or_else(|| BuiltinError::Other("the kernel version has no name".into()))?;
        let other = |e: super::modules::ModulesError| BuiltinError::Other(e.to_string());
        let index = ModuleIndex::scan(&version_dir).map_err(other)?;
        let order = index.load_order(&wanted).map_err(other)?;

        let out = cx.out()?;
        out.create_dir("", 0o755)?;
        out.copy_from(cx.open(&format!("{kernel}/vmlinuz"))?, "vmlinuz", 0o444)?;
        let dir = format!("lib/modules/{version}");
        out.create_dir_all(&dir)?;
        // Module name → file name in the output, for the dependency lines.
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        for path in &order {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .ok_or_else(|| BuiltinError::Other(format!("{} has no name", path.display())))?;
            let input = std::fs::File::open(path).map_err(|source| BuiltinError::Io {
                op: "open",
                path: path.clone(),
                source,
            })?;
            out.write_from(&format!("{dir}/{file}"), input, 0o444)?;
            let name = super::modules::normalize(file.trim_end_matches(".ko"));
            files.insert(name, file);
        }
        // modules.dep: each module, then every module it needs (transitively),
        // the one to load first last, as depmod writes it.
        let mut dep = String::new();
        for path in &order {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
            let Some(file) = file else { continue };
            let name = super::modules::normalize(file.trim_end_matches(".ko"));
            let needs = index
                .load_order(&[name.as_str()])
                .map_err(other)?
                .iter()
                .rev()
                .skip(1)
                .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .collect::<Vec<_>>();
            dep.push_str(&format!("{file}:"));
            for n in needs {
                dep.push(' ');
                dep.push_str(&n);
            }
            dep.push('\n');
        }
        out.write_file(&format!("{dir}/modules.dep"), dep.as_bytes(), 0o444)?;
        // What the kernel has built in needs no loading: modprobe says so
        // instead of failing.
        let builtin = cx
            .open(&format!("{kernel}/lib/modules/{version}/modules.builtin"))
            .and_then(|f| f.read())
            .unwrap_or_default();
        let mut w = out.create_file(&format!("{dir}/modules.builtin"), 0o444)?;
        w.write_all(&builtin).map_err(|source| BuiltinError::Io {
            op: "write",
            path: out.path().join(&dir).join("modules.builtin"),
            source,
        })?;
        Ok(())
    }
}
