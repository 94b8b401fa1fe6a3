//! The Git fetcher behind `builtins.fetchGit` and `fetchTree { type = "git"; }`,
//! as Nix 2.8's `GitInputScheme`: it picks the revision, runs the `git` CLI
//! and leaves the tree to add to the store in a scratch directory.
//!
//! Only local repositories are fetched: a path or `file://` URL naming a
//! working tree (used in place, a dirty one copied file by file when no `rev`
//! or `ref` is asked for) or a bare repository (fetched into a fresh bare
//! repository, as Nix fetches a remote into its cache). Other URLs are
//! refused. There is no cache across evaluations; the tree is exported again
//! each time and gives the same store path. (Nix keeps a bare repository
//! per URL in `~/.cache/nix/gitv3` and fetches into it: a revision of
//! another branch fetched once is found later without `allRefs`, so Nix's
//! answer depends on its history; b8g's does not.)
//!
//! `git` runs without a shell, with every argument separate: repository
//! paths are the value of `-C` or follow `--`, refs are checked as Nix
//! checks them and may not start with `-`, revisions are 40 hex digits.
//! Outputs read into memory are bounded, and a repository's
//! `core.fsmonitor` program is not run.
//!
//! This module does not touch the store.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use b8g_store::format::hash::{Hash, HashAlgo};

/// Nix's initial branch for the repositories it creates.
const INITIAL_BRANCH: &str = "__nix_dummy_branch";
/// The most a `git` command may print that is read into memory.
const MAX_OUTPUT: u64 = 64 << 20;

/// Why fetching from Git failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("fetching Git repositories from '{url}' is not supported by b8g (only local paths and file:// URLs are)")]
    Unsupported { url: String },
    #[error("invalid Git branch/tag name '{0}'")]
    BadRef(String),
    #[error("invalid Git revision '{rev}': {reason}")]
    BadRev { rev: String, reason: String },
    #[error("'{0}' is not a Git repository")]
    NotARepo(String),
    #[error("cannot run git {args}: {source}")]
    Spawn {
        args: String,
        source: std::io::Error,
    },
    #[error("program 'git' failed with exit code {code} (git {args}):\n{stderr}")]
    Failed {
        args: String,
        code: i32,
        stderr: String,
    },
    #[error("git {args} printed more than {MAX_OUTPUT} bytes")]
    TooMuchOutput { args: String },
    #[error("git {args} printed {output:?}, not {what}")]
    BadOutput {
        args: String,
        output: String,
        what: &'static str,
    },
    #[error("getting the HEAD of the Git tree '{path}' failed with exit code {code}:\n{output}")]
    Head {
        path: String,
        code: i32,
        output: String,
    },
    #[error("'{0}' is a shallow Git repository, but a non-shallow repository is needed")]
    Shallow(String),
    #[error("Cannot find Git revision '{rev}' in ref '{git_ref}' of repository '{url}'! Please make sure that the rev exists on the ref you've specified or add allRefs = true; to fetchGit.")]
    NoSuchRev {
        rev: String,
        git_ref: String,
        url: String,
    },
    #[error("{op} '{}': {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unpacking the archive of revision {rev}: {source}")]
    Unpack { rev: String, source: std::io::Error },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> GitError + 'a {
    move |source| GitError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What to fetch: the Git input attributes of Nix 2.8 that change the tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitInput {
    /// A `file://` URL (a path is given the scheme by the caller, as Nix does).
    pub url: String,
    /// A commit (40 hex digits, or any SHA-1 form Nix parses).
    pub rev: Option<String>,
    pub git_ref: Option<String>,
    pub shallow: bool,
    pub submodules: bool,
    pub all_refs: bool,
}

/// A fetched tree, ready to be added to the store.
#[derive(Debug)]
pub struct GitTree {
    /// The directory to add (inside the caller's scratch directory).
    pub root: PathBuf,
    /// The commit, `None` for a dirty working tree.
    pub rev: Option<String>,
    /// Commits reachable from `rev`; `None` when shallow or dirty.
    pub rev_count: Option<u64>,
    /// Commit time of `rev` (of HEAD for a dirty tree, 0 without commits).
    pub last_modified: u64,
}

/// Checks a ref as Nix's `badGitRefRegex` does, and refuses a leading `-`
/// (git refuses such names too; here it would be read as an option).
pub fn check_ref(r: &str) -> Result<(), GitError> {
    let bad = r.is_empty()
        || r == "@"
        || r.starts_with(['.', '/', '-'])
        || r.ends_with(['.', '/'])
        || r.ends_with(".lock")
        || ["//", "/.", "..", "\\", "*", ".lock/", "@{"]
            .iter()
            .any(|s| r.contains(s))
        || r.chars().any(|c| {
            c.is_control() || c.is_whitespace() || matches!(c, ':' | '?' | '^' | '~' | '[')
        });
    if bad {
        Err(GitError::BadRef(r.to_string()))
    } else {
        Ok(())
    }
}

/// A revision as Nix reads it (`Hash::parseAny(rev, sha1)`), in base16.
pub fn parse_rev(rev: &str) -> Result<String, GitError> {
    Hash::parse_any(rev, Some(HashAlgo::Sha1))
        .map(|h| h.to_base16())
        .map_err(|e| GitError::BadRev {
            rev: rev.to_string(),
            reason: e.to_string(),
        })
}

fn show(args: &[&OsStr]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `git`, told not to run the command a repository's `core.fsmonitor`
/// names (the repository being fetched is not trusted to run programs;
/// the setting only speeds up status checks).
fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.args(["-c", "core.fsmonitor=false"]);
    cmd
}

/// The outcome of one `git` run.
struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `git ARGS` (no shell), reading at most [`MAX_OUTPUT`] bytes of its
/// standard output; with `merge`, what it printed on stderr is appended to
/// that output (Nix's `mergeStderrToStdout`; only searched for messages).
fn run(args: &[&OsStr], env: &[(&str, &str)], merge: bool) -> Result<Run, GitError> {
    let spawn = |source| GitError::Spawn {
        args: show(args),
        source,
    };
    let mut err_file = tempfile::tempfile().map_err(spawn)?;
    let mut cmd = git_command();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err_file.try_clone().map_err(spawn)?);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(spawn)?;
    let mut stdout = Vec::new();
    let read = match child.stdout.take() {
        Some(out) => out
            .take(MAX_OUTPUT + 1)
            .read_to_end(&mut stdout)
            .map(|_| ()),
        None => Ok(()),
    };
    let status = child.wait().map_err(spawn)?;
    read.map_err(spawn)?;
    if stdout.len() as u64 > MAX_OUTPUT {
        return Err(GitError::TooMuchOutput { args: show(args) });
    }
    let stderr = read_start(&mut err_file);
    if merge {
        stdout.extend_from_slice(stderr.as_bytes());
    }
    Ok(Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    })
}

/// The first 64 KiB of a diagnostics file (plenty for an error message).
fn read_start(f: &mut std::fs::File) -> String {
    use std::io::Seek;
    let mut buf = Vec::new();
    // Diagnostics only: a file that cannot be read gives an empty message.
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = f.take(64 << 10).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs `git ARGS` and returns its output; a non-zero exit is an error.
fn git(args: &[&OsStr]) -> Result<Vec<u8>, GitError> {
    let r = run(args, &[], false)?;
    if r.code != 0 {
        return Err(GitError::Failed {
            args: show(args),
            code: r.code,
            stderr: r.stderr,
        });
    }
    Ok(r.stdout)
}

/// `git ARGS` printing one line, chomped.
fn git_line(args: &[&OsStr]) -> Result<String, GitError> {
    let out = git(args)?;
    Ok(String::from_utf8_lossy(&out).trim_end().to_string())
}

fn git_number(args: &[&OsStr], what: &'static str) -> Result<u64, GitError> {
    let line = git_line(args)?;
    line.parse().map_err(|_| GitError::BadOutput {
        args: show(args),
        output: line,
        what,
    })
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Decodes `%XX` escapes (Nix decodes the path of a URL).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The local path of a `file://` URL.
fn local_path(url: &str) -> Result<PathBuf, GitError> {
    let unsupported = || GitError::Unsupported {
        url: url.to_string(),
    };
    let rest = url.strip_prefix("file://").ok_or_else(unsupported)?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Err(unsupported());
    }
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    Ok(PathBuf::from(OsString::from_vec(percent_decode(rest))))
}

/// Fetches `input` into `work` (an empty scratch directory) and returns the
/// tree to add. `warn` gets Nix's warning about a dirty working tree.
pub fn fetch(
    input: &GitInput,
    work: &Path,
    warn: &mut dyn FnMut(&str),
) -> Result<GitTree, GitError> {
    let path = local_path(&input.url)?;
    let rev = input.rev.as_deref().map(parse_rev).transpose()?;
    if let Some(r) = &input.git_ref {
        check_ref(r)?;
    }
    let shown = path.to_string_lossy().into_owned();
    // A working tree is used in place; a bare repository is fetched from, as
    // Nix fetches a remote (it treats a bare file:// repository as one).
    let is_local = path.join(".git").exists();
    if is_local && input.git_ref.is_none() && rev.is_none() {
        if let Some(tree) = dirty_tree(&path, input.submodules, work, warn)? {
            return Ok(tree);
        }
    }
    let git_ref = match &input.git_ref {
        Some(r) => r.clone(),
        None if is_local => git_line(&[
            os("-C"),
            path.as_os_str(),
            os("rev-parse"),
            os("--abbrev-ref"),
            os("HEAD"),
        ])?,
        None => "master".to_string(),
    };
    let (repo, rev) = if is_local {
        let rev = match rev {
            Some(r) => r,
            None => {
                check_ref(&git_ref)?;
                let out = git_line(&[os("-C"), path.as_os_str(), os("rev-parse"), os(&git_ref)])?;
                parse_rev(&out)?
            }
        };
        (path.clone(), rev)
    } else {
        let repo = work.join("repo.git");
        let url = input.url.split(['?', '#']).next().unwrap_or(&input.url);
        fetch_bare(&repo, url, &git_ref, rev.as_deref(), input.all_refs)?;
        let rev = match rev {
            Some(r) => r,
            None => {
                let file = if git_ref.starts_with("refs/") {
                    repo.join(&git_ref)
                } else {
                    repo.join("refs/heads").join(&git_ref)
                };
                let text = std::fs::read_to_string(&file).map_err(io("reading", &file))?;
                parse_rev(text.trim_end())?
            }
        };
        (repo, rev)
    };
    let repo_os = repo.as_os_str();
    let shallow_repo = git_line(&[
        os("-C"),
        repo_os,
        os("rev-parse"),
        os("--is-shallow-repository"),
    ])? == "true";
    if shallow_repo && !input.shallow {
        return Err(GitError::Shallow(shown));
    }
    let probe = run(
        &[os("-C"), repo_os, os("cat-file"), os("commit"), os(&rev)],
        &[],
        true,
    )?;
    if probe.code == 128 && String::from_utf8_lossy(&probe.stdout).contains("bad file") {
        return Err(GitError::NoSuchRev {
            rev,
            git_ref,
            url: shown,
        });
    }
    let root = work.join("tree");
    if input.submodules {
        checkout_with_submodules(&repo, &input.url, &rev, &root, work)?;
    } else {
        export(&repo, &rev, &root, work)?;
    }
    let last_modified = git_number(
        &[
            os("-C"),
            repo_os,
            os("log"),
            os("-1"),
            os("--format=%ct"),
            os("--no-show-signature"),
            os(&rev),
        ],
        "a commit time",
    )?;
    let rev_count = if input.shallow {
        None
    } else {
        Some(git_number(
            &[os("-C"), repo_os, os("rev-list"), os("--count"), os(&rev)],
            "a commit count",
        )?)
    };
    Ok(GitTree {
        root,
        rev: Some(rev),
        rev_count,
        last_modified,
    })
}

/// Nix's check of a working tree asked for without `rev` or `ref`: `None`
/// when it is clean (fetched by HEAD's revision), else the tracked files as
/// they are on disk, with a warning.
fn dirty_tree(
    path: &Path,
    submodules: bool,
    work: &Path,
    warn: &mut dyn FnMut(&str),
) -> Result<Option<GitTree>, GitError> {
    let shown = path.to_string_lossy().into_owned();
    let p = path.as_os_str();
    // Nix reads git's messages here, so they must be in English.
    let head = run(
        &[
            os("-C"),
            p,
            os("--git-dir=.git"),
            os("rev-parse"),
            os("--verify"),
            os("--no-revs"),
            os("HEAD^{commit}"),
        ],
        &[("LC_ALL", "C")],
        true,
    )?;
    let msg = String::from_utf8_lossy(&head.stdout).into_owned();
    if msg.contains("fatal: not a git repository") {
        return Err(GitError::NotARepo(shown));
    }
    if head.code != 0 && !msg.contains("fatal: Needed a single revision") {
        return Err(GitError::Head {
            path: shown,
            code: head.code,
            output: msg,
        });
    }
    let has_head = head.code == 0;
    if has_head {
        let mut args = vec![os("-C"), p, os("diff"), os("HEAD"), os("--quiet")];
        if !submodules {
            // Changes in submodules only count when they are copied too.
            args.push(os("--ignore-submodules"));
        }
        args.push(os("--"));
        let diff = run(&args, &[], false)?;
        match diff.code {
            0 => return Ok(None),
            1 => {}
            code => {
                return Err(GitError::Failed {
                    args: show(&args),
                    code,
                    stderr: diff.stderr,
                })
            }
        }
    }
    warn(&format!("Git tree '{shown}' is dirty"));
    let mut args = vec![os("-C"), p, os("ls-files"), os("-z")];
    if submodules {
        args.push(os("--recurse-submodules"));
    }
    let listed = git(&args)?;
    let files: BTreeSet<Vec<u8>> = listed
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let root = work.join("tree");
    copy_tracked(path, &root, &[], &files)?;
    let last_modified = if has_head {
        git_number(
            &[
                os("-C"),
                p,
                os("log"),
                os("-1"),
                os("--format=%ct"),
                os("--no-show-signature"),
                os("HEAD"),
            ],
            "a commit time",
        )?
    } else {
        0
    };
    Ok(Some(GitTree {
        root,
        rev: None,
        rev_count: None,
        last_modified,
    }))
}

/// Copies what Nix's filter over `git ls-files` keeps: listed files and
/// symlinks, and directories holding a listed file. `rel` is the path of
/// `src` below the working tree.
fn copy_tracked(
    src: &Path,
    dst: &Path,
    rel: &[u8],
    files: &BTreeSet<Vec<u8>>,
) -> Result<(), GitError> {
    std::fs::create_dir(dst).map_err(io("creating", dst))?;
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(io("reading", src))?
        .collect::<Result<_, _>>()
        .map_err(io("reading", src))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let mut file = rel.to_vec();
        if !file.is_empty() {
            file.push(b'/');
        }
        file.extend_from_slice(name.as_bytes());
        let from = e.path();
        let to = dst.join(&name);
        let meta = std::fs::symlink_metadata(&from).map_err(io("reading", &from))?;
        if meta.is_dir() {
            let mut prefix = file.clone();
            prefix.push(b'/');
            let holds_file = files
                .range(prefix.clone()..)
                .next()
                .is_some_and(|f| f.starts_with(&prefix));
            if holds_file {
                copy_tracked(&from, &to, &file, files)?;
            }
        } else if files.contains(&file) {
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&from).map_err(io("reading", &from))?;
                std::os::unix::fs::symlink(target, &to).map_err(io("creating", &to))?;
            } else {
                std::fs::copy(&from, &to).map_err(io("copying", &from))?;
            }
        }
    }
    Ok(())
}

/// Fetches `git_ref` (or every ref) of the repository at `url` into a new
/// bare repository `repo`, as Nix fetches into its cache.
fn fetch_bare(
    repo: &Path,
    url: &str,
    git_ref: &str,
    rev: Option<&str>,
    all_refs: bool,
) -> Result<(), GitError> {
    let init_branch = format!("init.defaultBranch={INITIAL_BRANCH}");
    git(&[
        os("-c"),
        os(&init_branch),
        os("init"),
        os("--quiet"),
        os("--bare"),
        repo.as_os_str(),
    ])?;
    let fetch_ref = if all_refs {
        "refs/*".to_string()
    } else if git_ref.starts_with("refs/") || git_ref == "HEAD" {
        git_ref.to_string()
    } else {
        format!("refs/heads/{git_ref}")
    };
    let refspec = format!("{fetch_ref}:{fetch_ref}");
    // A fresh repository has no revision, so Nix's "is `rev` here already" is
    // always no.
    let _ = rev;
    git(&[
        os("-C"),
        repo.as_os_str(),
        os("fetch"),
        os("--quiet"),
        os("--force"),
        os("--"),
        os(url),
        os(&refspec),
    ])?;
    Ok(())
}

/// `git archive REV`, unpacked into `root`.
fn export(repo: &Path, rev: &str, root: &Path, work: &Path) -> Result<(), GitError> {
    let tar_path = work.join("archive.tar");
    let tar_file = std::fs::File::create(&tar_path).map_err(io("creating", &tar_path))?;
    let args = [os("-C"), repo.as_os_str(), os("archive"), os(rev)];
    let mut err_file = tempfile::tempfile().map_err(io("creating a temporary file in", work))?;
    let err_out = err_file
        .try_clone()
        .map_err(io("creating a temporary file in", work))?;
    let status = git_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(tar_file)
        .stderr(err_out)
        .status()
        .map_err(|source| GitError::Spawn {
            args: show(&args),
            source,
        })?;
    if !status.success() {
        return Err(GitError::Failed {
            args: show(&args),
            code: status.code().unwrap_or(-1),
            stderr: read_start(&mut err_file),
        });
    }
    std::fs::create_dir(root).map_err(io("creating", root))?;
    let file = std::fs::File::open(&tar_path).map_err(io("reading", &tar_path))?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(file));
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(false);
    ar.set_unpack_xattrs(false);
    ar.unpack(root).map_err(|source| GitError::Unpack {
        rev: rev.to_string(),
        source,
    })?;
    std::fs::remove_file(&tar_path).map_err(io("removing", &tar_path))?;
    Ok(())
}

/// Nix's checkout with submodules: a new repository with every ref of
/// `repo`, REV checked out, `origin` set to `url` (relative submodule URLs
/// resolve against it) and submodules updated; `.git` entries are dropped.
fn checkout_with_submodules(
    repo: &Path,
    url: &str,
    rev: &str,
    root: &Path,
    work: &Path,
) -> Result<(), GitError> {
    let git_dir = work.join("checkout.git");
    let init_branch = format!("init.defaultBranch={INITIAL_BRANCH}");
    git(&[
        os("-c"),
        os(&init_branch),
        os("init"),
        os("--quiet"),
        root.as_os_str(),
        os("--separate-git-dir"),
        git_dir.as_os_str(),
    ])?;
    let r = root.as_os_str();
    git(&[
        os("-C"),
        r,
        os("fetch"),
        os("--quiet"),
        os("--force"),
        os("--update-head-ok"),
        os("--"),
        repo.as_os_str(),
        os("refs/*:refs/*"),
    ])?;
    git(&[os("-C"), r, os("checkout"), os("--quiet"), os(rev)])?;
    let origin = url.split(['?', '#']).next().unwrap_or(url);
    git(&[
        os("-C"),
        r,
        os("remote"),
        os("add"),
        os("--"),
        os("origin"),
        os(origin),
    ])?;
    git(&[
        os("-C"),
        r,
        os("submodule"),
        os("--quiet"),
        os("update"),
        os("--init"),
        os("--recursive"),
    ])?;
    remove_dot_git(root)
}

/// Removes every entry named `.git` below `dir` (Nix's `isNotDotGitDirectory` filter).
fn remove_dot_git(dir: &Path) -> Result<(), GitError> {
    for e in std::fs::read_dir(dir).map_err(io("reading", dir))? {
        let e = e.map_err(io("reading", dir))?;
        let p = e.path();
        let ft = e.file_type().map_err(io("reading", &p))?;
        if e.file_name() == ".git" {
            if ft.is_dir() {
                std::fs::remove_dir_all(&p).map_err(io("removing", &p))?;
            } else {
                std::fs::remove_file(&p).map_err(io("removing", &p))?;
            }
        } else if ft.is_dir() {
            remove_dot_git(&p)?;
        }
    }
    Ok(())
}

/// `%Y%m%d%H%M%S` of a Unix time in UTC (Nix's `lastModifiedDate`).
pub fn utc_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_checked_as_nix_checks_them() {
        for good in ["main", "refs/heads/main", "v1.0", "feature/x", "a@b"] {
            assert!(check_ref(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "@",
            "-x",
            "--upload-pack=x",
            ".x",
            "/x",
            "x/",
            "x.",
            "a..b",
            "a//b",
            "a/.b",
            "a b",
            "a:b",
            "a?",
            "a^",
            "a~1",
            "a[",
            "a\\b",
            "a*",
            "x.lock",
            "x.lock/y",
            "a@{1}",
        ] {
            assert!(check_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revisions_are_sha1_in_any_form() {
        let hex = "fa56e4a19c685a3d6e24d339b90160c013c086b2";
        assert_eq!(parse_rev(hex).expect("hex"), hex);
        assert!(parse_rev("fa56e4a").is_err());
        assert!(parse_rev("--output=/x").is_err());
    }

    #[test]
    fn last_modified_dates_are_utc() {
        assert_eq!(utc_timestamp(0), "19700101000000");
        assert_eq!(utc_timestamp(1_700_000_100), "20231114221500");
        assert_eq!(utc_timestamp(951_782_400), "20000229000000");
    }

    #[test]
    fn only_local_urls_are_fetched() {
        assert_eq!(
            local_path("file:///tmp/a%20b").expect("local"),
            PathBuf::from("/tmp/a b")
        );
        assert!(local_path("https://example.org/r.git").is_err());
        assert!(local_path("file://host/x").is_err());
    }
}
