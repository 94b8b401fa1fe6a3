//! Debian source packages as inputs of real builds.
//!
//! `builtin:b8g-fetch-deb-source` fetches one file of a pinned source package
//! (usually the upstream `*.orig.tar.*`). The host normally lists only binary
//! archives (`deb`), so the builder derives a private apt configuration at run
//! time: every `deb` entry of the host's sources becomes a `deb-src` entry,
//! with private list and cache directories, so the host's apt state is not
//! touched and no archive host name is written anywhere. `apt-get update` then
//! fetches the (signed) Sources indexes and `apt-get source --download-only`
//! downloads and checks the package's files. The derivation is fixed-output:
//! the realiser checks the file against the pinned sha256 as well.

use super::{io, BuiltinBuilder, BuiltinContext, BuiltinError};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the host's apt sources are (`Dir::Etc::SourceList` and `SourceParts`).
const HOST_SOURCE_LIST: &str = "/etc/apt/sources.list";
const HOST_SOURCE_PARTS: &str = "/etc/apt/sources.list.d";

/// The `deb-src` counterpart of a one-line-style sources file: `deb …` lines
/// become `deb-src …`; everything else (comments, existing `deb-src`) is dropped.
pub fn one_line_to_source(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("deb ").or_else(|| t.strip_prefix("deb\t")) {
            out.push_str("deb-src ");
            out.push_str(rest.trim_start());
            out.push('\n');
        }
    }
    out
}

/// The `deb-src` counterpart of a deb822 `.sources` file: stanzas whose
/// `Types` include `deb` get `Types: deb-src`; other stanzas are dropped.
pub fn deb822_to_source(text: &str) -> String {
    let mut out = String::new();
    for stanza in text.split("\n\n") {
        let mut has_deb = false;
        let mut lines = Vec::new();
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("types") => {
                    has_deb = v.split_whitespace().any(|t| t == "deb");
                    lines.push("Types: deb-src".to_string());
                }
                _ => lines.push(line.to_string()),
            }
        }
        if has_deb {
            out.push_str(&lines.join("\n"));
            out.push_str("\n\n");
        }
    }
    out
}

/// A private apt configuration with `deb-src` entries derived from the host's
/// sources, in a temporary directory removed on drop.
pub struct SourceApt {
    dir: tempfile::TempDir,
}

impl SourceApt {
    /// Derives the configuration from the host's sources and runs `apt-get update` with it.
    pub fn new() -> Result<SourceApt, BuiltinError> {
        let dir = tempfile::Builder::new()
            .prefix("b8g-apt-src")
            .tempdir()
            .map_err(io("create temporary directory", Path::new("/tmp")))?;
        let apt = SourceApt { dir };
        let parts = apt.path("sources.list.d");
        for d in [
            parts.clone(),
            apt.path("lists/partial"),
            apt.path("cache/archives/partial"),
        ] {
            fs::create_dir_all(&d).map_err(io("create directory", &d))?;
        }
        let mut list = String::new();
        if let Ok(text) = fs::read_to_string(HOST_SOURCE_LIST) {
            list.push_str(&one_line_to_source(&text));
        }
        let mut n_entries = list.lines().count();
        if let Ok(rd) = fs::read_dir(HOST_SOURCE_PARTS) {
            let mut names: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
            names.sort();
            for p in names {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                // apt itself reads only these two suffixes; others are disabled files.
                let converted = if name.ends_with(".list") {
                    one_line_to_source(&fs::read_to_string(&p).map_err(io("read", &p))?)
                } else if name.ends_with(".sources") {
                    deb822_to_source(&fs::read_to_string(&p).map_err(io("read", &p))?)
                } else {
                    continue;
                };
                if converted.trim().is_empty() {
                    continue;
                }
                n_entries += 1;
                let target = parts.join(&name);
                fs::write(&target, converted).map_err(io("write", &target))?;
            }
        }
        let main_list = apt.path("sources.list");
        fs::write(&main_list, list).map_err(io("write", &main_list))?;
        if n_entries == 0 {
            return Err(BuiltinError::Other(format!(
                "the host's apt configuration ({HOST_SOURCE_LIST}, {HOST_SOURCE_PARTS}) lists no `deb` archive to derive `deb-src` entries from"
            )));
        }
        apt.run(&["update", "-q"], apt.dir.path())?;
        Ok(apt)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `apt-get` with the private configuration.
    pub fn apt_get(&self) -> Command {
        let mut c = Command::new("apt-get");
        for (k, v) in [
            ("Dir::Etc::SourceList", self.path("sources.list")),
            ("Dir::Etc::SourceParts", self.path("sources.list.d")),
            ("Dir::State::Lists", self.path("lists")),
            ("Dir::Cache", self.path("cache")),
        ] {
            c.arg("-o").arg(format!("{k}={}", v.display()));
        }
        // Downloads land in our own directories; apt's `_apt` user may not reach them.
        c.args([
            "-o",
            "APT::Sandbox::User=root",
            "-o",
            "Acquire::Languages=none",
        ]);
        c
    }

    /// `apt-cache` with the private configuration.
    pub fn apt_cache(&self) -> Command {
        let mut c = Command::new("apt-cache");
        for (k, v) in [
            ("Dir::Etc::SourceList", self.path("sources.list")),
            ("Dir::Etc::SourceParts", self.path("sources.list.d")),
            ("Dir::State::Lists", self.path("lists")),
            ("Dir::Cache", self.path("cache")),
        ] {
            c.arg("-o").arg(format!("{k}={}", v.display()));
        }
        c
    }

    fn run(&self, args: &[&str], cwd: &Path) -> Result<Output, BuiltinError> {
        let out = self
            .apt_get()
            .args(args)
            .current_dir(cwd)
            .output()
            .map_err(io("run apt-get in", cwd))?;
        if !out.status.success() {
            return Err(BuiltinError::Other(format!(
                "apt-get {} (with deb-src entries derived from the host's sources) failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out)
    }

    /// Downloads the files of source package `package` at `version` into
    /// `dest` (apt checks them against the signed Sources index).
    pub fn download_source(
        &self,
        package: &str,
        version: &str,
        dest: &Path,
    ) -> Result<(), BuiltinError> {
        self.run(
            &[
                "source",
                "-q",
                "--download-only",
                &format!("{package}={version}"),
            ],
            dest,
        )
        .map_err(|e| {
            BuiltinError::Other(format!(
                "cannot download the pinned source package {package}={version} (the archive may \
                 no longer serve this version; refresh recipes/bootstrap/pins.nix): {e}"
            ))
        })?;
        Ok(())
    }
}

/// The `b8g-fetch-deb-source` builtin builder: attributes `package` (the source
/// package), `version` and `file` (which of its files becomes the output).
pub struct FetchDebSource;

impl BuiltinBuilder for FetchDebSource {
    fn name(&self) -> &'static str {
        "b8g-fetch-deb-source"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        let package = cx.attr("package", "b8g-fetch-deb-source")?;
        let version = cx.attr("version", "b8g-fetch-deb-source")?;
        let file = cx.attr("file", "b8g-fetch-deb-source")?;
        let out = cx.out()?;
        // As b8g-fetch-deb: the network only for fixed-output derivations, and
        // nothing apt-get could take for an option (a leading alphanumeric).
        if !cx.env.contains_key("outputHash") {
            return Err(BuiltinError::Other(format!(
                "builtin:b8g-fetch-deb-source downloads from the network, so it serves only \
                 fixed-output derivations; {package}={version} has no outputHash"
            )));
        }
        let valid = |s: &str| {
            s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.:~_".contains(&b))
        };
        if !valid(package) || !valid(version) || !valid(file) {
            return Err(BuiltinError::Other(format!(
                "invalid Debian source pin {package}={version} file {file:?}"
            )));
        }
        let apt = SourceApt::new()?;
        let dl = apt.path("download");
        fs::create_dir_all(&dl).map_err(io("create directory", &dl))?;
        apt.download_source(package, version, &dl)?;
        let got = dl.join(file);
        if !got.is_file() {
            let names: Vec<String> = fs::read_dir(&dl)
                .map_err(io("read directory", &dl))?
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            return Err(BuiltinError::Other(format!(
                "source package {package}={version} has no file {file}; it has {names:?}"
            )));
        }
        let file = fs::File::open(&got).map_err(io("open", &got))?;
        out.write_from("", file, 0o444)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_become_deb_src() {
        let text = "# comment\ndeb http://example.invalid/debian bookworm main\n\
                    deb-src http://example.invalid/debian bookworm main\n\
                    deb [signed-by=/k.gpg] http://example.invalid/x y main\n";
        assert_eq!(
            one_line_to_source(text),
            "deb-src http://example.invalid/debian bookworm main\n\
             deb-src [signed-by=/k.gpg] http://example.invalid/x y main\n"
        );
    }

    #[test]
    fn deb822_stanzas_become_deb_src() {
        let text = "Types: deb\n# note\nURIs: http://example.invalid/debian\nSuites: bookworm\n\
                    Components: main\nSigned-By: /k.gpg\n\nTypes: deb-src\nURIs: http://example.invalid/o\n\
                    Suites: s\nComponents: main\n";
        assert_eq!(
            deb822_to_source(text),
            "Types: deb-src\nURIs: http://example.invalid/debian\nSuites: bookworm\n\
             Components: main\nSigned-By: /k.gpg\n\n"
        );
    }
}
