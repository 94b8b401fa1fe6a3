//! The signed manifest of a b8g snapshot (a system closure as one archive,
//! written and read by the generations code): which toplevel it installs
//! and the size and sha256 of every other member of the archive. Parsing,
//! rendering and signing only; no I/O.
//!
//! ```text
//! b8g-snapshot 2
//! toplevel /b8g/store/<hash>-b8g-system-<name>
//! member nix-cache-info 31 sha256:<nix32>
//! member nar/<file>.nar.zst 1234 sha256:<nix32>
//! sig <keyname>:<base64>
//! ```
//! The signatures cover every byte before the first `sig` line (the
//! `b8g-snapshot 2` header keeps them from being mistaken for store path
//! signatures, which start with `1;`). The parser is strict: one header,
//! one toplevel, members with safe relative names (at most `dir/file`, no
//! `.` or `..`, no duplicates), then at least one signature; anything else is
//! an error. It knows nothing of the store: the toplevel stays text.

use std::collections::BTreeMap;

use super::hash::{Encoding, Hash, HashAlgo};
use super::signing::{PublicKey, SecretKey, Signature};

/// The archive member that holds the manifest; it comes first.
pub const MANIFEST_MEMBER: &str = "b8g-snapshot";
/// The first line of a current manifest.
pub const HEADER: &str = "b8g-snapshot 2";
/// The most a manifest may hold (two members of ~150 bytes per store path:
/// room for tens of thousands of paths).
pub const MANIFEST_LIMIT: u64 = 16 << 20;

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error(
        "its manifest is the unsigned kind older b8g versions wrote (a `toplevel=` line \
         that no signature covers); export the snapshot again with this version \
         (`b8g snapshot export`)"
    )]
    Unsigned,
    #[error("manifest line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("the manifest names no toplevel")]
    NoToplevel,
    #[error("the manifest carries no signature")]
    NoSignature,
}

/// One member the manifest vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub size: u64,
    /// sha256 of the member's bytes.
    pub sha256: Hash,
}

/// A snapshot manifest. Invariant: member names are safe relative paths
/// (see the module doc), the toplevel has no whitespace, `sha256` hashes are
/// sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub toplevel: String,
    pub members: BTreeMap<String, Member>,
    /// `keyname:base64` texts, verbatim.
    pub signatures: Vec<String>,
}

/// Whether `name` may name a member: `file` or `dir/file`, each part of
/// letters, digits and `+-._`, not starting with `.`, and not the manifest.
pub fn valid_member_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    name != MANIFEST_MEMBER
        && name.len() <= 255
        && (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
        })
}

impl Manifest {
    /// The text the signatures cover.
    pub fn body(&self) -> String {
        let mut out = format!("{HEADER}\ntoplevel {}\n", self.toplevel);
        for (name, m) in &self.members {
            out.push_str(&format!(
                "member {name} {} {}\n",
                m.size,
                m.sha256.to_typed(Encoding::Nix32)
            ));
        }
        out
    }

    /// The whole manifest file: body, then one `sig` line per signature.
    pub fn render(&self) -> String {
        let mut out = self.body();
        for s in &self.signatures {
            out.push_str(&format!("sig {s}\n"));
        }
        out
    }

    /// Adds a signature of the body by `key`.
    pub fn sign(&mut self, key: &SecretKey) {
        let sig = key.sign(self.body().as_bytes()).to_string();
        self.signatures.push(sig);
    }

    /// Whether one of the signatures is a valid one by one of `keys`.
    pub fn has_valid_signature(&self, keys: &[PublicKey]) -> bool {
        let body = self.body();
        self.signatures
            .iter()
            .filter_map(|s| Signature::parse(s).ok())
            .any(|sig| keys.iter().any(|k| k.verify(body.as_bytes(), &sig)))
    }

    /// Parses a manifest file (strictly: see the module doc).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let syntax = |line: usize, reason: &str| ManifestError::Syntax {
            line,
            reason: reason.to_owned(),
        };
        let text = std::str::from_utf8(bytes).map_err(|e| ManifestError::Syntax {
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            reason: "not UTF-8".into(),
        })?;
        if text.lines().any(|l| l.starts_with("toplevel=")) {
            return Err(ManifestError::Unsigned);
        }
        if !text.ends_with('\n') {
            return Err(syntax(text.lines().count().max(1), "no final newline"));
        }
        let mut lines = text
            .split_terminator('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, l)) if l == HEADER => {}
            _ => return Err(syntax(1, &format!("expected `{HEADER}`"))),
        }
        let mut toplevel = None;
        let mut members = BTreeMap::new();
        let mut signatures = Vec::new();
        for (n, line) in lines {
            let (key, rest) = line
                .split_once(' ')
                .ok_or_else(|| syntax(n, "expected `<field> <value>`"))?;
            if key != "sig" && !signatures.is_empty() {
                return Err(syntax(n, "only signatures may follow a signature"));
            }
            match key {
                "toplevel" => {
                    if toplevel.is_some() {
                        return Err(syntax(n, "a second toplevel"));
                    }
                    if !members.is_empty() {
                        return Err(syntax(n, "the toplevel comes before the members"));
                    }
                    if rest.is_empty() || rest.contains(char::is_whitespace) {
                        return Err(syntax(n, "bad toplevel"));
                    }
                    toplevel = Some(rest.to_owned());
                }
                "member" => {
                    if toplevel.is_none() {
                        return Err(syntax(n, "the toplevel comes before the members"));
                    }
                    let f: Vec<&str> = rest.split(' ').collect();
                    let [name, size, hash] = f[..] else {
                        return Err(syntax(n, "expected `member <name> <size> sha256:<hash>`"));
                    };
                    if !valid_member_name(name) {
                        return Err(syntax(n, &format!("bad member name {name:?}")));
                    }
                    // Canonical decimal only, so that parse and render agree.
                    if size.is_empty()
                        || !size.bytes().all(|b| b.is_ascii_digit())
                        || (size.len() > 1 && size.starts_with('0'))
                    {
                        return Err(syntax(n, &format!("bad size {size:?}")));
                    }
                    let size: u64 = size
                        .parse()
                        .map_err(|_| syntax(n, &format!("bad size {size:?}")))?;
                    let sha256 = hash
                        .strip_prefix("sha256:")
                        .and_then(|h| Hash::parse_unprefixed(h, HashAlgo::Sha256).ok())
                        .filter(|h| h.to_typed(Encoding::Nix32) == hash)
                        .ok_or_else(|| syntax(n, &format!("bad hash {hash:?}")))?;
                    if members
                        .insert(name.to_owned(), Member { size, sha256 })
                        .is_some()
                    {
                        return Err(syntax(n, &format!("member {name} is listed twice")));
                    }
                }
                "sig" => {
                    if rest.is_empty() || rest.contains(char::is_whitespace) {
                        return Err(syntax(n, "bad signature"));
                    }
                    signatures.push(rest.to_owned());
                }
                _ => return Err(syntax(n, &format!("unknown field {key:?}"))),
            }
        }
        let toplevel = toplevel.ok_or(ManifestError::NoToplevel)?;
        if signatures.is_empty() {
            return Err(ManifestError::NoSignature);
        }
        let m = Manifest {
            toplevel,
            members,
            signatures,
        };
        // Members must be listed in order, as `render` writes them: one text per manifest.
        if m.render().as_bytes() != bytes {
            return Err(syntax(1, "members are not in order"));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::hash::HashSink;
    use proptest::prelude::*;

    fn sha(data: &[u8]) -> Hash {
        let mut s = HashSink::new(HashAlgo::Sha256);
        s.update(data);
        s.finish().0
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&format!("snap-{n}"), &[n; 32]).expect("valid key")
    }

    fn sample() -> Manifest {
        let mut m = Manifest {
            toplevel: "/b8g/store/aaaa-b8g-system-x".into(),
            members: BTreeMap::new(),
            signatures: vec![],
        };
        m.members.insert(
            "nar/abc.nar.zst".into(),
            Member {
                size: 12,
                sha256: sha(b"nar"),
            },
        );
        m.members.insert(
            "abc.narinfo".into(),
            Member {
                size: 300,
                sha256: sha(b"narinfo"),
            },
        );
        m.sign(&key(1));
        m
    }

    #[test]
    fn round_trip_and_signature() {
        let m = sample();
        let text = m.render();
        let again = Manifest::parse(text.as_bytes()).expect("parses");
        assert_eq!(again, m);
        assert!(again.has_valid_signature(&[key(1).public()]));
        assert!(!again.has_valid_signature(&[key(2).public()]));
    }

    #[test]
    fn a_swapped_toplevel_or_member_breaks_the_signature() {
        let m = sample();
        let mut swapped = m.clone();
        swapped.toplevel = "/b8g/store/bbbb-b8g-system-old".into();
        assert!(!swapped.has_valid_signature(&[key(1).public()]));
        let mut changed = m.clone();
        changed
            .members
            .get_mut("abc.narinfo")
            .expect("present")
            .size += 1;
        assert!(!changed.has_valid_signature(&[key(1).public()]));
    }

    #[test]
    fn old_unsigned_manifest_asks_for_a_re_export() {
        let e = Manifest::parse(b"toplevel=/b8g/store/aaaa-b8g-system-x\n").expect_err("old");
        assert_eq!(e, ManifestError::Unsigned);
        assert!(e.to_string().contains("export the snapshot again"));
    }

    #[test]
    fn strictness() {
        let good = sample().render();
        let bad = [
            good.replace("b8g-snapshot 2", "b8g-snapshot 3"),
            good.replace("nar/abc.nar.zst", "../abc.nar.zst"),
            good.replace("nar/abc.nar.zst", "nar/.hidden"),
            good.replace("nar/abc.nar.zst", "a/b/c"),
            good.replace("nar/abc.nar.zst", "b8g-snapshot"),
            good.replace(" 12 ", " 012 "),
            good.replace("sig ", "note "),
            good.trim_end().to_owned(),
            good.lines()
                .filter(|l| !l.starts_with("sig"))
                .map(|l| format!("{l}\n"))
                .collect(),
            good.lines()
                .filter(|l| !l.starts_with("toplevel"))
                .map(|l| format!("{l}\n"))
                .collect(),
            format!(
                "{good}member zzz 1 {}\n",
                sha(b"").to_typed(Encoding::Nix32)
            ),
        ];
        for b in bad {
            assert!(Manifest::parse(b.as_bytes()).is_err(), "accepted:\n{b}");
        }
    }

    fn arb_name() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9._+-]{0,20}(/[a-z0-9][a-z0-9._+-]{0,20})?"
            .prop_filter("not the manifest", |n| n != MANIFEST_MEMBER)
    }

    proptest! {
        /// Any bytes: a typed error or a manifest that renders back to exactly them.
        #[test]
        fn parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(m) = Manifest::parse(&bytes) {
                let text = m.render();
                prop_assert_eq!(text.as_bytes(), &bytes[..]);
            }
        }

        /// Lines shaped like a manifest's, shuffled and mutated: same property.
        #[test]
        fn manifest_like_text_never_panics(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just(HEADER.to_owned()),
                    "toplevel [ -~]{0,30}",
                    "member [ -~]{0,60}",
                    "sig [ -~]{0,40}",
                    "toplevel=[ -~]{0,30}",
                    "[ -~]{0,40}",
                ],
                0..8,
            ),
            end_newline in any::<bool>(),
        ) {
            let mut text = lines.join("\n");
            if end_newline {
                text.push('\n');
            }
            if let Ok(m) = Manifest::parse(text.as_bytes()) {
                prop_assert_eq!(m.render(), text);
            }
        }

        /// Every well-formed manifest parses back to itself and its signature holds;
        /// changing any member's size or the toplevel breaks it.
        #[test]
        fn generated_manifests_round_trip(
            top in "/[a-z]{1,5}/store/[a-z0-9]{1,10}-[a-z-]{1,10}",
            members in proptest::collection::btree_map(arb_name(), (any::<u64>(), any::<[u8; 4]>()), 0..6),
        ) {
            let mut m = Manifest {
                toplevel: top,
                members: members
                    .into_iter()
                    .map(|(n, (size, seed))| (n, Member { size, sha256: sha(&seed) }))
                    .collect(),
                signatures: vec![],
            };
            m.sign(&key(3));
            let again = Manifest::parse(m.render().as_bytes()).expect("well-formed parses");
            prop_assert_eq!(&again, &m);
            prop_assert!(again.has_valid_signature(&[key(3).public()]));
            let mut other = again.clone();
            other.toplevel.push('x');
            prop_assert!(!other.has_valid_signature(&[key(3).public()]));
        }
    }
}
