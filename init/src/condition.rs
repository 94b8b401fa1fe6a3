//! Host facts behind the conditions that are not about one path: first boot,
//! `ConditionNeedsUpdate=`, virtualization, capabilities, security frameworks and AC
//! power. They follow systemd's definitions so that the same units are skipped (a
//! unit run needlessly is work, and on a serial console, time).

use std::path::Path;

/// True when the shell-style pattern matches an existing path: glob(3) with braces,
/// as systemd's `PathExistsGlob=` and `ConditionPathExistsGlob=` use it
/// (`GLOB_NOSORT | GLOB_BRACE`). Braces are expanded here, as glibc expands them, so
/// that a C library without `GLOB_BRACE` (musl) gives the same answer.
pub fn glob_matches(pattern: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    expand_braces(pattern.as_os_str().as_bytes())
        .into_iter()
        .any(|p| glob_one(&p))
}

fn glob_one(pattern: &[u8]) -> bool {
    let Ok(c) = std::ffi::CString::new(pattern) else {
        return false;
    };
    // SAFETY: glob_t is plain data; glob fills it and globfree releases it.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        let r = libc::glob(c.as_ptr(), libc::GLOB_NOSORT, None, &mut g);
        let found = r == 0 && g.gl_pathc > 0;
        libc::globfree(&mut g);
        found
    }
}

/// The most patterns one brace expression may become: a unit file cannot make PID 1
/// expand `{a,b}{a,b}…` exponentially. Past it, the rest are not tried.
const BRACE_EXPANSIONS_MAX: usize = 1024;

/// glibc's `GLOB_BRACE` expansion: the first unescaped `{` with its alternatives (split
/// at top-level commas, nested braces kept whole) becomes one pattern per
/// alternative, each expanded again; `{}` is one empty alternative; a `{` without its
/// `}` leaves the whole pattern as it is (glibc then globs it without braces).
pub fn expand_braces(pattern: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out);
    out
}

fn expand_into(pattern: &[u8], out: &mut Vec<Vec<u8>>) {
    if out.len() >= BRACE_EXPANSIONS_MAX {
        return;
    }
    // The first unescaped `{`.
    let mut i = 0;
    let begin = loop {
        match pattern.get(i) {
            None => {
                out.push(pattern.to_vec());
                return;
            }
            Some(b'\\') => i += 2,
            Some(b'{') => break i,
            Some(_) => i += 1,
        }
    };
    // Top-level separators up to the matching `}`.
    let (mut depth, mut j) = (0usize, begin + 1);
    let mut cuts = vec![begin];
    let end = loop {
        match pattern.get(j) {
            None => {
                out.push(pattern.to_vec());
                return;
            }
            Some(b'\\') => j += 1,
            Some(b'{') => depth += 1,
            Some(b'}') if depth > 0 => depth -= 1,
            Some(b'}') => break j,
            Some(b',') if depth == 0 => cuts.push(j),
            Some(_) => {}
        }
        j += 1;
    };
    cuts.push(end);
    for w in cuts.windows(2) {
        let mut alt = pattern[..begin].to_vec();
        alt.extend_from_slice(&pattern[w[0] + 1..w[1]]);
        alt.extend_from_slice(&pattern[end + 1..]);
        expand_into(&alt, out);
        if out.len() >= BRACE_EXPANSIONS_MAX {
            return;
        }
    }
}

/// First boot, as systemd 247+ decides it: `/etc/machine-id` is missing or holds
/// `uninitialized` (an empty file is not a first boot).
pub fn first_boot(machine_id: &Path) -> bool {
    match std::fs::read_to_string(machine_id) {
        Ok(t) => t.trim() == "uninitialized",
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// `ConditionNeedsUpdate=DIR`: `/usr` was modified after `DIR/.updated` (or that file
/// is missing). A read-only DIR cannot be updated, so the condition is false there.
pub fn needs_update(dir: &Path) -> bool {
    let c = match std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(_) => return false,
    };
    // SAFETY: statvfs on a NUL-terminated path into a zeroed struct.
    let read_only = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    };
    if read_only {
        return false;
    }
    let Ok(updated) = std::fs::symlink_metadata(dir.join(".updated")) else {
        return true;
    };
    let (Ok(usr), Ok(done)) = (
        std::fs::metadata("/usr").and_then(|m| m.modified()),
        updated.modified(),
    ) else {
        return false;
    };
    usr > done
}

/// What kind of virtualization we run in: `Some("container")`-like answers are given
/// as (is_container, is_vm, name).
fn detect_virt() -> (bool, bool, String) {
    // A container manager tells PID 1 through $container (and systemd's convention file).
    let container = std::env::var("container")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/run/systemd/container")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        });
    if let Some(c) = container {
        return (true, false, c);
    }
    let vendor = ["sys_vendor", "board_vendor", "bios_vendor", "product_name"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("/sys/class/dmi/id/{f}")).ok())
        .map(|s| s.trim().to_string())
        .collect::<Vec<_>>();
    let known: &[(&str, &str)] = &[
        ("QEMU", "qemu"),
        ("KVM", "kvm"),
        ("VMware", "vmware"),
        ("VMW", "vmware"),
        ("innotek GmbH", "oracle"),
        ("VirtualBox", "oracle"),
        ("Xen", "xen"),
        ("Bochs", "bochs"),
        ("Parallels", "parallels"),
        ("BHYVE", "bhyve"),
        ("Amazon EC2", "amazon"),
        ("Microsoft Corporation", "microsoft"),
        ("Google", "google"),
    ];
    for v in &vendor {
        if let Some((_, name)) = known.iter().find(|(k, _)| v.starts_with(k)) {
            return (false, true, name.to_string());
        }
    }
    let hyper = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| {
            c.lines()
                .filter(|l| l.starts_with("flags"))
                .any(|l| l.split_whitespace().any(|w| w == "hypervisor"))
        })
        .unwrap_or(false);
    if hyper {
        return (false, true, "vm-other".into());
    }
    (false, false, "none".into())
}

/// `ConditionVirtualization=`: a boolean, `vm`, `container`, or a technology name.
/// None when the value is not understood.
pub fn virtualization(value: &str) -> Option<bool> {
    let (container, vm, name) = detect_virt();
    if let Ok(b) = crate::unit::parse::parse_bool(value) {
        return Some(b == (container || vm));
    }
    Some(match value {
        "vm" => vm,
        "container" => container,
        "private-users" => std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
            .unwrap_or(false),
        v if crate::unit::condition_names::VIRT_NAMES.contains(&v) => v == name,
        _ => return None,
    })
}

/// `ConditionCapability=CAP_X`: the capability is in our bounding set.
pub fn capability(index: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_none_or(|mask| index < 64 && mask & (1u64 << index) != 0)
}

/// `ConditionSecurity=`: the names systemd knows; None for others.
pub fn security(value: &str) -> Option<bool> {
    let non_empty_dir = |p: &str| {
        std::fs::read_dir(p)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    };
    Some(match value {
        "selinux" => Path::new("/sys/fs/selinux/enforce").exists(),
        "apparmor" => std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .map(|s| s.trim() == "Y")
            .unwrap_or(false),
        "smack" => Path::new("/sys/fs/smackfs").is_dir() && non_empty_dir("/sys/fs/smackfs"),
        "ima" => Path::new("/sys/kernel/security/ima").exists(),
        "tomoyo" => Path::new("/sys/kernel/security/tomoyo/version").exists(),
        "audit" => Path::new("/proc/self/loginuid").exists(),
        "tpm2" => non_empty_dir("/sys/class/tpmrm"),
        "uefi-secureboot" => std::fs::read(
            "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
        )
        .map(|b| b.last() == Some(&1))
        .unwrap_or(false),
        "cvm" => Path::new("/sys/firmware/sev").exists() || Path::new("/dev/tdx_guest").exists(),
        _ => return None,
    })
}

/// Whether we run on mains power: true unless some power supply of type Mains reports
/// offline and none online (no power supply information at all counts as AC power).
pub fn ac_power() -> bool {
    let Ok(rd) = std::fs::read_dir("/sys/class/power_supply") else {
        return true;
    };
    let mut found_offline = false;
    for e in rd.flatten() {
        let p = e.path();
        let ty = std::fs::read_to_string(p.join("type")).unwrap_or_default();
        if ty.trim() != "Mains" {
            continue;
        }
        match std::fs::read_to_string(p.join("online")).map(|s| s.trim().to_string()) {
            Ok(s) if s == "1" => return true,
            Ok(_) => found_offline = true,
            Err(_) => {}
        }
    }
    !found_offline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_boot_follows_machine_id() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("machine-id");
        assert!(first_boot(&m), "missing");
        std::fs::write(&m, "").unwrap();
        assert!(!first_boot(&m), "empty is not a first boot");
        std::fs::write(&m, "uninitialized\n").unwrap();
        assert!(first_boot(&m));
        std::fs::write(&m, "0123456789abcdef0123456789abcdef\n").unwrap();
        assert!(!first_boot(&m));
    }

    #[test]
    fn needs_update_compares_with_usr() {
        let d = tempfile::tempdir().unwrap();
        assert!(needs_update(d.path()), "no .updated file");
        std::fs::write(d.path().join(".updated"), "").unwrap();
        // Freshly written, so newer than /usr.
        assert!(!needs_update(d.path()));
    }

    fn strs(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn braces_expand_as_glibc_expands_them() {
        let e = |p: &str| strs(expand_braces(p.as_bytes()));
        assert_eq!(e("/a/{b,c}/d"), ["/a/b/d", "/a/c/d"]);
        assert_eq!(e("{a,b}{1,2}"), ["a1", "a2", "b1", "b2"]);
        assert_eq!(e("x{a,{b,c}d}y"), ["xay", "xbdy", "xcdy"]);
        assert_eq!(e("a{}b"), ["ab"]);
        assert_eq!(e("a{b"), ["a{b"], "no closing brace: literal");
        assert_eq!(e("a\\{b,c}"), ["a\\{b,c}"], "an escaped brace is not one");
        assert_eq!(e("{a\\,b,c}"), ["a\\,b", "c"]);
        assert_eq!(e("plain*"), ["plain*"]);
        // A hostile pattern stays bounded.
        let many = "{a,b}".repeat(40);
        assert_eq!(expand_braces(many.as_bytes()).len(), BRACE_EXPANSIONS_MAX);
    }

    /// The oracle: glibc's own `GLOB_BRACE` gives the same answer on a real tree.
    #[cfg(target_env = "gnu")]
    #[test]
    fn glob_matches_agrees_with_glibcs_glob_brace() {
        let d = tempfile::tempdir().unwrap();
        for f in ["one.conf", "sub/two.rules", "sub/deep/x.y", ".hidden"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
        }
        let glibc = |pattern: &Path| {
            use std::os::unix::ffi::OsStrExt;
            let c = std::ffi::CString::new(pattern.as_os_str().as_bytes()).unwrap();
            // SAFETY: as in glob_one.
            unsafe {
                let mut g: libc::glob_t = std::mem::zeroed();
                let r = libc::glob(
                    c.as_ptr(),
                    libc::GLOB_NOSORT | libc::GLOB_BRACE,
                    None,
                    &mut g,
                );
                let found = r == 0 && g.gl_pathc > 0;
                libc::globfree(&mut g);
                found
            }
        };
        for p in [
            "*.conf",
            "{sub,nope}/*.rules",
            "{nope,none}/*",
            "sub/{deep,x}/*.{y,z}",
            "sub/{deep/x.y}",
            "{one.conf",
            "*hidden",
            "{.hidden,zz}",
            "sub/{,deep/}x.y",
            "{a,{b,sub}}/two.*",
            "[ot]ne.conf",
            "x{}one.conf",
        ] {
            let full = d.path().join(p);
            assert_eq!(glob_matches(&full), glibc(&full), "{p}");
        }
    }

    #[test]
    fn virtualization_values() {
        assert!(virtualization("bogus-name").is_none());
        let any = virtualization("yes").unwrap();
        assert_eq!(virtualization("no"), Some(!any));
        let vm = virtualization("vm").unwrap();
        let ct = virtualization("container").unwrap();
        assert!(!(vm && ct));
        assert_eq!(any, vm || ct);
    }
}
