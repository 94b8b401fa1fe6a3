//! Host facts behind the conditions that are not about one path: first boot,
//! `ConditionNeedsUpdate=`, virtualization, capabilities, security frameworks and AC
//! power. They follow systemd's definitions so that the same units are skipped (a
//! unit run needlessly is work, and on a serial console, time).

use std::path::Path;

/// True when the shell-style pattern matches an existing path, as systemd's
/// `PathExistsGlob=` and `ConditionPathExistsGlob=` decide it: glob(3) with
/// `GLOB_NOSORT | GLOB_BRACE`, where a wildcard never matches `.` or `..` (systemd
/// reads directories without them). Braces are expanded here, as glibc expands them,
/// so that a C library without `GLOB_BRACE` (musl) gives the same answer.
pub fn glob_matches(pattern: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = pattern.as_os_str().as_bytes();
    if bytes.len() > PATTERN_MAX {
        return false;
    }
    let mut found = false;
    each_brace_expansion(bytes, |p| {
        found = glob_one(p);
        found
    });
    found
}

/// systemd refuses a path longer than PATH_MAX when it parses the unit; such a
/// pattern matches nothing here.
const PATTERN_MAX: usize = 4096;

fn glob_one(pattern: &[u8]) -> bool {
    let Ok(c) = std::ffi::CString::new(pattern) else {
        return false;
    };
    let parts: Vec<&[u8]> = pattern.split(|&b| b == b'/').collect();
    // SAFETY: glob_t is plain data; glob fills it, gl_pathv holds gl_pathc valid C
    // strings until globfree releases them.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        let r = libc::glob(c.as_ptr(), libc::GLOB_NOSORT, None, &mut g);
        let mut found = false;
        if r == 0 {
            for i in 0..g.gl_pathc as usize {
                let path = std::ffi::CStr::from_ptr(*g.gl_pathv.add(i)).to_bytes();
                if !dot_from_wildcard(&parts, path) {
                    found = true;
                    break;
                }
            }
        }
        libc::globfree(&mut g);
        found
    }
}

/// Whether `path`, a match of the pattern split into `parts`, has `.` or `..` where
/// the pattern had a wildcard: glob(3) lists them, systemd's directory reading skips them.
fn dot_from_wildcard(parts: &[&[u8]], path: &[u8]) -> bool {
    let got: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    got.len() == parts.len()
        && got.iter().zip(parts).any(|(g, p)| {
            (*g == b"." || *g == b"..") && p.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
        })
}

/// The most patterns one brace expression may become, and the most bytes of patterns
/// expanding it may write: a unit file cannot make PID 1 expand `{a,b}{a,b}…` (or
/// `{}{}…`) for long. Past either, the rest are not tried.
const BRACE_EXPANSIONS_MAX: usize = 1024;
const BRACE_BYTES_MAX: usize = 16 << 20;

/// glibc's `GLOB_BRACE` expansion: the first unescaped `{` with its alternatives (split
/// at top-level commas, nested braces kept whole) becomes one pattern per
/// alternative, each expanded again; `{}` is one empty alternative; a `{` without its
/// `}` leaves the whole pattern as it is (glibc then globs it without braces).
pub fn expand_braces(pattern: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    each_brace_expansion(pattern, |p| {
        out.push(p.to_vec());
        false
    });
    out
}

/// Calls `f` with each expansion in glibc's order until it returns true or a bound is
/// reached. An explicit stack, not recursion: nesting depth is the pattern's to choose.
fn each_brace_expansion(pattern: &[u8], mut f: impl FnMut(&[u8]) -> bool) {
    let mut stack = vec![pattern.to_vec()];
    let (mut given, mut bytes) = (0usize, pattern.len());
    while let Some(p) = stack.pop() {
        match first_brace(&p) {
            None => {
                given += 1;
                if f(&p) || given >= BRACE_EXPANSIONS_MAX {
                    return;
                }
            }
            Some((begin, cuts, end)) => {
                // Pushed last to first, so the first alternative is expanded first.
                for w in cuts.windows(2).rev() {
                    let mut alt = Vec::with_capacity(p.len());
                    alt.extend_from_slice(&p[..begin]);
                    alt.extend_from_slice(&p[w[0] + 1..w[1]]);
                    alt.extend_from_slice(&p[end + 1..]);
                    bytes += alt.len();
                    if bytes > BRACE_BYTES_MAX {
                        return;
                    }
                    stack.push(alt);
                }
            }
        }
    }
}

/// The first unescaped `{` that has its `}`: its position, the positions of it and of
/// its top-level commas, and of the `}`. None when there is no such brace: a first `{`
/// without its `}` makes the whole pattern literal, as in glibc.
fn first_brace(p: &[u8]) -> Option<(usize, Vec<usize>, usize)> {
    let mut i = 0;
    let begin = loop {
        match p.get(i)? {
            b'\\' => i += 2,
            b'{' => break i,
            _ => i += 1,
        }
    };
    let (mut depth, mut j) = (0usize, begin + 1);
    let mut cuts = vec![begin];
    loop {
        match p.get(j)? {
            b'\\' => j += 1,
            b'{' => depth += 1,
            b'}' if depth > 0 => depth -= 1,
            b'}' => break,
            b',' if depth == 0 => cuts.push(j),
            _ => {}
        }
        j += 1;
    }
    cuts.push(j);
    Some((begin, cuts, j))
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
        // Hostile patterns stay bounded: many groups, deep nesting, long ones.
        let many = "{a,b}".repeat(40);
        assert_eq!(expand_braces(many.as_bytes()).len(), BRACE_EXPANSIONS_MAX);
        let deep = format!("{}x{}", "{".repeat(1000), "}".repeat(1000));
        assert_eq!(e(&deep), ["x"]);
        // No recursion to overflow the stack; the byte budget stops it early.
        let deeper = format!("{}x{}", "{".repeat(200_000), "}".repeat(200_000));
        assert!(expand_braces(deeper.as_bytes()).len() <= 1);
        let wide = format!("{}{}", "{a,b}".repeat(10), "{}".repeat(2000));
        assert!(expand_braces(wide.as_bytes()).len() <= BRACE_EXPANSIONS_MAX);
        assert!(!glob_matches(Path::new(&format!(
            "/{}",
            "a".repeat(PATTERN_MAX)
        ))));
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
        // Where systemd differs from plain glob(3): a wildcard never matches `.` or `..`.
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(glibc(&empty.join(".*")), "glob(3) lists . and ..");
        assert!(!glob_matches(&empty.join(".*")));
        assert!(!glob_matches(&empty.join(".*/one.conf")));
        assert!(
            glob_matches(&empty.join("../one.conf")),
            "a literal .. is a path"
        );
        assert!(glob_matches(&empty.join("../.hid*")));
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
