//! The host's apt as a [`DebianIndex`]: `apt-cache` reads the package lists
//! that `apt-get update` fetched and verified against the archive's signed
//! `InRelease` files, so what it reports is what Debian signed.

use super::resolve::{parse_depends, DebianIndex, Record, ResolveError};
use std::collections::BTreeMap;
use std::process::Command;

/// `apt-cache`, with the host's configuration.
#[derive(Debug, Default)]
pub struct AptIndex;

/// Names per `apt-cache show` call: well under the argument limit.
const BATCH: usize = 200;

fn apt_cache(args: &[&str], names: &[String]) -> Result<String, ResolveError> {
    let out = Command::new("apt-cache")
        .args(args)
        .args(names)
        .output()
        .map_err(|e| ResolveError::Index(format!("run apt-cache: {e} (is apt installed?)")))?;
    // `show` exits 0 when some names are unknown or virtual (it says so on
    // stderr) and 100 when none is known; the records it printed are the answer.
    if !out.status.success() && out.stdout.is_empty() && out.status.code() != Some(100) {
        return Err(ResolveError::Index(format!(
            "apt-cache {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The value of `field` in one control record (continuation lines joined).
fn field(record: &str, name: &str) -> Option<String> {
    let mut lines = record.lines();
    while let Some(line) = lines.next() {
        if let Some(v) = line.strip_prefix(name).and_then(|r| r.strip_prefix(':')) {
            let mut value = v.trim().to_owned();
            for more in lines.by_ref() {
                if !more.starts_with([' ', '\t']) {
                    break;
                }
                value.push(' ');
                value.push_str(more.trim());
            }
            return Some(value);
        }
    }
    None
}

/// Records of `apt-cache show` output that the archive serves (with a
/// hash), keyed by package.
pub fn parse_records(text: &str) -> Result<BTreeMap<String, Record>, ResolveError> {
    let mut out = BTreeMap::new();
    for record in text.split("\n\n").filter(|r| !r.trim().is_empty()) {
        let get = |f: &str| {
            field(record, f).ok_or_else(|| {
                ResolveError::Index(format!("a record of apt-cache show has no {f} field"))
            })
        };
        let package = get("Package")?;
        // A record without a hash is dpkg's own (an installed version no
        // index lists any more): nothing the archive serves.
        if field(record, "SHA256").is_none() {
            continue;
        }
        // Only what runs here: a foreign architecture's build is not this package.
        if !matches!(
            field(record, "Architecture").as_deref(),
            Some("amd64" | "all")
        ) {
            continue;
        }
        let mut depends = parse_depends(&field(record, "Pre-Depends").unwrap_or_default());
        depends.extend(parse_depends(&field(record, "Depends").unwrap_or_default()));
        let r = Record {
            version: get("Version")?,
            sha256: get("SHA256")?.to_ascii_lowercase(),
            depends,
            package: package.clone(),
        };
        out.insert(package, r);
    }
    Ok(out)
}

impl AptIndex {
    /// The packages of `lock` whose pinned version (with its sha256) the
    /// archive no longer serves, as `name=version`.
    pub fn unserved(&self, lock: &super::DebianLock) -> Result<Vec<String>, ResolveError> {
        let wanted: Vec<String> = lock
            .packages
            .iter()
            .map(|(n, p)| format!("{n}={}", p.version))
            .collect();
        let mut served = BTreeMap::new();
        for chunk in wanted.chunks(BATCH) {
            // `name=version` shows that version's records; unknown ones are left out.
            for (name, r) in parse_records(&apt_cache(&["show", "--"], chunk)?)? {
                served.insert((name, r.version), r.sha256);
            }
        }
        Ok(lock
            .packages
            .iter()
            .filter(|(n, p)| served.get(&((*n).clone(), p.version.clone())) != Some(&p.sha256))
            .map(|(n, p)| format!("{n}={}", p.version))
            .collect())
    }
}

impl DebianIndex for AptIndex {
    fn candidates(&self, names: &[String]) -> Result<BTreeMap<String, Record>, ResolveError> {
        let mut out = BTreeMap::new();
        for chunk in names.chunks(BATCH) {
            // `--no-all-versions`: the candidate only, as apt would install it.
            let text = apt_cache(&["show", "--no-all-versions", "--"], chunk)?;
            out.extend(parse_records(&text)?);
        }
        Ok(out)
    }

    fn providers(&self, name: &str) -> Result<Vec<String>, ResolveError> {
        let text = apt_cache(&["showpkg", "--"], &[name.to_owned()])?;
        let mut providers: Vec<String> = text
            .split("Reverse Provides:")
            .nth(1)
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        providers.sort();
        providers.dedup();
        Ok(providers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_apt_cache_show() {
        let text = "Package: python3\nVersion: 3.11.2-1+b1\nArchitecture: amd64\nProvides: python3-profiler\n\
            Depends: python3.11 (>= 3.11.2-1~),\n libpython3-stdlib (= 3.11.2-1+b1)\n\
            Pre-Depends: python3-minimal (= 3.11.2-1+b1)\nDescription: x\n more\n\
            SHA256: ABCDEF\n\nPackage: zlib1g\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSHA256: 01\n\n\
            Package: zlib1g-arm\nVersion: 1\nArchitecture: arm64\nSHA256: 02\n\n\
            Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\n";
        let r = parse_records(text).unwrap();
        assert_eq!(
            r["python3"].depends,
            vec![
                vec!["python3-minimal".to_string()],
                vec!["python3.11".into()],
                vec!["libpython3-stdlib".into()]
            ]
        );
        assert_eq!(r["python3"].sha256, "abcdef");
        assert_eq!(r["zlib1g"].version, "1:1.2.13.dfsg-1");
        assert!(r["zlib1g"].depends.is_empty());
        assert!(
            !r.contains_key("bash"),
            "dpkg's status record is not the archive's"
        );
        assert!(
            !r.contains_key("zlib1g-arm"),
            "another architecture's build"
        );
    }
}
