//! Users and groups from the passwd and group files (a static PID 1 has no NSS): the
//! generation's, then /etc; `DynamicUser=`'s users; supplementary groups.

use super::*;

/// A user from passwd.
#[derive(Debug, Clone)]
pub struct User {
    /// The name in passwd; the number as written for a numeric `User=` not listed there.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

pub(super) fn passwd_files(etc: &Path, name: &str) -> Vec<PathBuf> {
    vec![etc.join(name), PathBuf::from("/etc").join(name)]
}

pub fn lookup_user(etc: &Path, user: &str) -> Result<User, String> {
    for f in passwd_files(etc, "passwd") {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let p: Vec<&str> = line.split(':').collect();
            if p.len() >= 7 && (p[0] == user || p[2] == user) {
                let uid = p[2]
                    .parse()
                    .map_err(|_| format!("bad uid in {}", f.display()))?;
                let gid = p[3]
                    .parse()
                    .map_err(|_| format!("bad gid in {}", f.display()))?;
                return Ok(User {
                    name: p[0].to_string(),
                    uid,
                    gid,
                    home: p[5].to_string(),
                    shell: p[6].to_string(),
                });
            }
        }
    }
    if let Ok(uid) = user.parse() {
        return Ok(User {
            name: user.to_string(),
            uid,
            gid: uid,
            home: "/".into(),
            shell: "/bin/sh".into(),
        });
    }
    Err(format!("user {user:?} not found"))
}

/// The first and last ids systemd gives dynamic users (systemd.exec(5)).
pub(super) const DYNAMIC_UID_MIN: u32 = 61184;
pub(super) const DYNAMIC_UID_MAX: u32 = 65519;

/// `DynamicUser=`'s user: a static user of that name if there is one (as systemd
/// does), else a uid and gid of the dynamic range picked from the name's hash, so
/// that the same unit gets the same id at every start (its StateDirectory= stays its
/// own), skipping ids /etc/passwd or /etc/group use. Never root, never a login.
pub fn dynamic_user(etc: &Path, name: &str) -> User {
    if let Ok(u) = lookup_user(etc, name) {
        if !name.chars().all(|c| c.is_ascii_digit()) {
            return u;
        }
    }
    // The ids in use, read once (not once per probed id).
    let mut taken = std::collections::HashSet::new();
    for f in ["passwd", "group"] {
        for p in passwd_files(etc, f) {
            if let Ok(t) = std::fs::read_to_string(&p) {
                taken.extend(
                    t.lines()
                        .filter_map(|l| l.split(':').nth(2)?.parse::<u32>().ok()),
                );
            }
        }
    }
    let used = |id: u32| taken.contains(&id);
    // FNV-1a: stable across versions and machines.
    let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let span = DYNAMIC_UID_MAX - DYNAMIC_UID_MIN + 1;
    let first = hash % span;
    let uid = (0..span)
        .map(|i| DYNAMIC_UID_MIN + (first + i) % span)
        .find(|&id| !used(id))
        .unwrap_or(DYNAMIC_UID_MIN + first);
    User {
        name: name.to_string(),
        uid,
        gid: uid,
        home: "/".into(),
        shell: "/sbin/nologin".into(),
    }
}

/// The user a context runs as: `User=` from /etc/passwd, or `DynamicUser=`'s.
pub fn context_user(etc: &Path, ctx: &ExecContext) -> Option<Result<User, String>> {
    let name = ctx.user.as_deref()?;
    Some(if ctx.dynamic_user {
        Ok(dynamic_user(etc, name))
    } else {
        lookup_user(etc, name)
    })
}

pub fn lookup_group(etc: &Path, group: &str) -> Result<u32, String> {
    if let Ok(g) = group.parse() {
        return Ok(g);
    }
    for f in passwd_files(etc, "group") {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let p: Vec<&str> = line.split(':').collect();
            if p.len() >= 3 && p[0] == group {
                return p[2]
                    .parse()
                    .map_err(|_| format!("bad gid in {}", f.display()));
            }
        }
    }
    Err(format!("group {group:?} not found"))
}

/// The groups that list `user` as a member in the group file (the generation's, else
/// /etc's): what initgroups(3) adds to the primary group, read without NSS.
pub fn member_groups(etc: &Path, user: &str) -> Vec<u32> {
    let Some(text) = passwd_files(etc, "group")
        .into_iter()
        .find_map(|f| std::fs::read_to_string(f).ok())
    else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let p: Vec<&str> = line.split(':').collect();
            let listed = p.get(3)?.split(',').any(|m| m.trim() == user);
            listed.then(|| p[2].parse().ok()).flatten()
        })
        .collect()
}
