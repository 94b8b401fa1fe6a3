//! `b8g options [--json] [FILE]`: the option list of the system modules with
//! types, defaults and descriptions, as Markdown or JSON, plus the options a
//! system file declares itself.

use std::path::Path;
use std::process::Command;

fn b8g_options(args: &[&str]) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .arg("options")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "b8g options {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn markdown_lists_options_with_type_default_and_description() {
    let md = b8g_options(&[]);
    for expected in [
        "## `networking.hostName`\n\nThe host name.\n\n*Type:* string matching the pattern",
        "*Default:* `\"b8g\"`",
        "## `users.users.<name>.hashedPassword`",
        "## `virtualisation.forwardPorts.*.host.port`",
        "## `services.nginx.virtualHosts.<name>.root`",
        "*Type:* integer between 0 and 65535 (both inclusive)",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
    }
    // Internal options (assertions) stay out of the documentation.
    assert!(!md.contains("## `assertions"), "{md}");
}

#[test]
fn json_has_every_field_and_a_files_own_options() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("system.nix");
    std::fs::write(
        &file,
        "{ lib, ... }: { options.my.greeting = lib.mkOption { type = lib.types.str; default = \"hi\"; description = \"What to say.\"; }; }",
    )
    .unwrap();
    let json = b8g_options(&["--json", file.to_str().unwrap()]);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    let list = list.as_array().expect("a JSON list");
    let find = |name: &str| {
        list.iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no option {name}"))
            .clone()
    };
    let mine = find("my.greeting");
    assert_eq!(mine["type"], "string");
    assert_eq!(mine["default"], "\"hi\"");
    assert_eq!(mine["description"], "What to say.");
    assert_eq!(mine["declarations"][0], file.to_str().unwrap());
    let mem = find("virtualisation.memorySize");
    assert_eq!(mem["default"], "512");
    assert!(list.len() > 100, "only {} options", list.len());
}

/// `b8g options NAME`: only that option and those below it, as `nixos-option`
/// shows one (the newcomer pass tried it and got "cannot find" a file).
#[test]
fn a_name_shows_that_option_and_those_below_it() {
    let md = b8g_options(&["services.openssh.ports"]);
    assert_eq!(md.matches("## `").count(), 1, "{md}");
    assert!(md.starts_with("## `services.openssh.ports`"), "{md}");
    let below = b8g_options(&["services.openssh"]);
    assert!(
        below.contains("## `services.openssh.enable`")
            && below.contains("## `services.openssh.settings`")
    );
    assert!(!below.contains("services.nginx"), "{below}");
    let json: serde_json::Value =
        serde_json::from_str(&b8g_options(&["--json", "security.sudo.enable"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["name"], "security.sudo.enable");
    // A name nothing matches fails, saying so.
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .args(["options", "services.nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no option is named services.nope"));
}
