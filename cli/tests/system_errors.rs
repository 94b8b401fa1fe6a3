//! Errors a user sees from `b8g-build` (issue 6): a type mismatch names the
//! option, the expected type and every file defining it; an unknown option
//! suggests the closest names; a failed assertion prints its message. Each is
//! printed as a clean error (exit status 1), never a panic. The same messages
//! are checked under Nix and b8g-eval by builder/tests/recipes_lib.rs.
//! Also what `b8g-build --dry-run` says of a system before anything is built.

use std::path::Path;
use std::process::Command;

fn build_error(file: &str) -> String {
    build_error_with(file, &[])
}

fn build_error_with(file: &str, flags: &[&str]) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = tempfile::tempdir().unwrap();
    // Evaluation fails before b8g-init is needed; a stand-in keeps the argument valid.
    let bin = root.path().join("b8g-bin");
    std::fs::create_dir_all(bin.join("bin")).unwrap();
    std::fs::write(bin.join("bin/b8g-init"), "stand-in").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root.path())
        .args(["build", "-o"])
        .arg(root.path().join("result"))
        .arg("--b8g-bin")
        .arg(&bin)
        .args(flags)
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{file}: expected a clean failure, got {:?}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{file} panicked:\n{stderr}");
    // The message itself, not the evaluator's trace through recipes/lib.
    assert!(
        flags.contains(&"--show-trace")
            || !stderr.contains("while calling") && stderr.lines().count() < 12,
        "{file}: the error is buried in a trace:\n{stderr}"
    );
    stderr
}

#[test]
fn unknown_option_suggests_the_closest_name() {
    let e = build_error("recipes/tests/errors/typo.nix");
    assert!(
        e.contains("The option `networking.hostname' does not exist.")
            && e.contains("recipes/tests/errors/typo.nix'")
            && e.contains("Did you mean `networking.hostName'?"),
        "{e}"
    );
}

#[test]
fn type_mismatch_names_option_type_and_files() {
    let e = build_error("recipes/tests/errors/bad-type-both.nix");
    assert!(
        e.contains("A definition for option `services.getty.enable' is not of type `boolean'.")
            && e.contains("errors/bad-type.nix:6:3': \"yes\"")
            && e.contains("errors/also-getty.nix'"),
        "{e}"
    );
}

#[test]
fn failed_assertion_prints_its_message() {
    let e = build_error("recipes/tests/errors/assertion.nix");
    assert!(
        e.contains("Failed assertions:")
            && e.contains("users.users.alice: uid 1000 is used by more than one user"),
        "{e}"
    );
}

/// What `nix-instantiate --eval` prints for FILE (parse-time errors are the file's alone).
fn nix_error(file: &Path) -> String {
    let out = Command::new("nix-instantiate")
        .arg("--eval")
        .arg(file)
        .env("NIX_REMOTE", "dummy://")
        .output()
        .expect("nix-instantiate runs (cargo xtask test installs nix-bin)");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn syntax_errors_and_undefined_variables_read_as_nix_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "syntax.nix",
            "{ pkgs, ... }:\n{\n  networking.hostName = \"x\"\n  users.users.alice.isNormalUser = true;\n}\n",
        ),
        (
            "undefined.nix",
            "{ pkgs, ... }:\n{\n  networking.hostName = foo;\n}\n",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let ours = build_error(file.to_str().unwrap());
        assert_eq!(ours.trim_end(), nix_error(&file).trim_end(), "{name}");
        // Nothing of b8g's own wrapper around the file.
        assert!(!ours.contains("«string»") && !ours.contains("isModule"), "{ours}");
    }
}

#[test]
fn a_wrong_attribute_lists_what_the_system_has() {
    let e = build_error_with("images/minimal.nix", &["-A", "toplevl"]);
    assert!(
        e.starts_with(
            "error: attribute 'toplevl' in selection path 'config.system.build.toplevl' not found"
        ) && e.contains("toplevel, ")
            && e.contains(" vm"),
        "{e}"
    );
    assert!(
        !e.contains("eval-config.nix"),
        "the generated expression leaked:\n{e}"
    );
}

#[test]
fn show_trace_shows_the_trace_and_otherwise_nix_s_hint() {
    let hidden = build_error("recipes/tests/errors/typo.nix");
    assert!(
        hidden.contains("(use '--show-trace' to show detailed location information)"),
        "{hidden}"
    );
    assert!(!hidden.contains("recipes/lib/modules.nix"), "{hidden}");
    // Where in the module system the error was raised.
    let shown = build_error_with("recipes/tests/errors/typo.nix", &["--show-trace"]);
    assert!(shown.contains("recipes/lib/modules.nix:"), "{shown}");
    assert!(!shown.contains("--show-trace"), "{shown}");
}

/// `b8g-build --dry-run SYSTEM.nix` lists the derivations a build would run,
/// as nix-build does, and builds, fetches and links nothing.
#[test]
fn dry_run_of_a_system_lists_what_would_be_built() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = tempfile::tempdir().unwrap();
    // Nothing is built, so a stand-in b8g-init does.
    let bin = root.path().join("b8g-bin");
    std::fs::create_dir_all(bin.join("bin")).unwrap();
    std::fs::write(bin.join("bin/b8g-init"), "stand-in").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_b8g-build"))
        .current_dir(&workspace)
        .env("B8G_CONF", root.path().join("no-such.conf"))
        .arg("--root")
        .arg(root.path())
        .arg("-o")
        .arg(root.path().join("result"))
        .arg("--b8g-bin")
        .arg(&bin)
        .args(["--dry-run", "images/minimal.nix"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    // A local pins override (made where Debian dropped a pinned version) warns first.
    let plan: Vec<&str> = stderr
        .lines()
        .skip_while(|l| l.starts_with("trace: "))
        .collect();
    let first = plan.first().copied().unwrap_or("");
    let n: usize = first
        .strip_prefix("these ")
        .and_then(|r| r.strip_suffix(" derivations will be built:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not nix-build's dry-run wording:\n{stderr}"));
    let listed: Vec<&str> = plan
        .iter()
        .copied()
        .skip(1)
        .take_while(|l| l.starts_with("  /b8g/store/"))
        .collect();
    assert_eq!(listed.len(), n, "{stderr}");
    assert!(
        listed
            .iter()
            .any(|l| l.ends_with("-b8g-system-minimal.drv")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "a dry run printed a result");
    assert!(
        !root.path().join("result").exists(),
        "a dry run linked a result"
    );
    assert!(
        !root.path().join("b8g/var/b8g/log/drvs").exists(),
        "a dry run built something"
    );
    // run-vm would boot: it refuses --dry-run instead of ignoring it.
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .env("B8G_CONF", root.path().join("no-such.conf"))
        .arg("--root")
        .arg(root.path())
        .args(["run-vm", "--dry-run", "--b8g-bin"])
        .arg(&bin)
        .arg("images/minimal.nix")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("b8g-build --dry-run -A vm"), "{stderr}");
    assert!(!root.path().join("b8g/var/b8g/log/drvs").exists());
}

#[test]
fn an_option_nixos_has_and_b8g_lacks_says_so() {
    let e = build_error("recipes/tests/errors/nixos-mysql.nix");
    assert!(
        e.contains("The option `services.mysql' does not exist.")
            && e.contains("NixOS has `services.mysql', b8g does not (yet).")
            && e.contains("Run `b8g options` to see the options b8g has.")
            && !e.contains("Did you mean"),
        "{e}"
    );
}

/// Every generated unit is checked by b8g-init's parser at build time
/// (`b8gctl verify --strict`): a typo fails the build with the file and line.
#[test]
fn a_typo_in_a_generated_unit_fails_the_build_with_file_and_line() {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init and bin/b8gctl (cargo xtask test does)");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = tempfile::tempdir().unwrap();
    let build = |file: &str| {
        Command::new(env!("CARGO_BIN_EXE_b8g"))
            .current_dir(&workspace)
            .args(["-q", "--root"])
            .arg(root.path())
            .args([
                "build",
                "--no-out-link",
                "-A",
                "unitsChecked",
                "--b8g-bin",
                &bin,
            ])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = build("recipes/tests/errors/unit-typo.nix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert!(
        stderr.contains("typo.service:3: error: unknown directive Tpye=")
            && stderr.contains("b8gctl verify rejected a generated unit file"),
        "{stderr}"
    );
    // The same units without the typo build.
    let out = build("images/minimal.nix");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `b8g build -A etc FILE` in a fresh store, with the static b8g binaries.
fn build_etc(file: &str) -> std::process::Output {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init and bin/b8gctl (cargo xtask test does)");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root.path())
        .args(["build", "--no-out-link", "-A", "etc", "--b8g-bin", &bin])
        .arg(file)
        .output()
        .unwrap()
}

/// A time zone tzdata does not have fails the build with its name, rather than
/// leaving /etc/localtime dangling.
#[test]
fn a_misspelt_time_zone_fails_the_build_naming_it() {
    let out = build_etc("recipes/tests/errors/bad-timezone.nix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert!(
        stderr.contains("time.timeZone = \"Europe/Berln\" is not a zone of tzdata"),
        "{stderr}"
    );
}

/// /etc/sudoers is checked with sudo's own `visudo -c` at build time: a rule it
/// rejects fails the build with the line and column, not a sudo that refuses
/// everyone on the booted system.
#[test]
fn a_sudoers_line_visudo_rejects_fails_the_build() {
    let out = build_etc("recipes/tests/errors/bad-sudoers.nix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert!(
        stderr.contains("-sudoers:17:21: syntax error")
            && stderr.contains("alice ALL=(ALL) ALL ALL")
            && stderr.contains("visudo rejected /etc/sudoers"),
        "{stderr}"
    );
}

/// sshd_config is parsed by `sshd -t` at build time: a misspelt setting fails
/// the build with its line, instead of an sshd that does not start after a switch.
#[test]
fn an_sshd_setting_sshd_rejects_fails_the_build() {
    let out = build_etc("recipes/tests/errors/bad-sshd.nix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert!(
        stderr.contains("Bad configuration option: PermitRootLogn")
            && stderr.contains("sshd -t rejected the generated sshd_config"),
        "{stderr}"
    );
}
