//! A generation's boot entry and stage 1's record of the last boot: the files
//! boot counting runs on ([`kv`](crate::kv) files in the boot directory).
//!
//! `entries/system-N.conf`, written by `b8g system`, counted down by stage 1,
//! judged by b8g-init (`b8gctl boot-check`):
//! ```text
//! generation=N
//! toplevel=/b8g/store/…-b8g-system-…
//! tries=3        boots left before stage 1 skips it while it is not good
//! good=0         1 once b8g-init reached default.target and the health checks passed
//! reason=…       why its last boot failed, if one did
//! ```
//! `last-boot`, written by stage 1: `generation=` (empty when the command
//! line decided), `skipped=` and `skipped_reason=`.

use std::fmt;

use crate::kv::{self, KeyValues};

pub const GENERATION: &str = "generation";
pub const TOPLEVEL: &str = "toplevel";
pub const TRIES: &str = "tries";
pub const GOOD: &str = "good";
pub const REASON: &str = "reason";
/// The keys of an entry in the order every writer puts them (stage 1's too).
pub const KEYS: &[&str] = &[GENERATION, TOPLEVEL, TRIES, GOOD, REASON];

pub const SKIPPED: &str = "skipped";
pub const SKIPPED_REASON: &str = "skipped_reason";
/// The keys of the boot record, in stage 1's order.
pub const LAST_BOOT_KEYS: &[&str] = &[GENERATION, SKIPPED, SKIPPED_REASON];

/// One generation's boot entry. Invariant: no field holds a newline once
/// rendered (a newline in `reason` becomes a space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub generation: u32,
    pub toplevel: String,
    pub tries: u32,
    pub good: bool,
    pub reason: String,
}

/// An entry that names no generation to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    Missing(&'static str),
    NotANumber { key: &'static str, value: String },
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::Missing(key) => write!(f, "the boot entry has no {key}= line"),
            EntryError::NotANumber { key, value } => {
                write!(f, "the boot entry's {key}={value} is not a number")
            }
        }
    }
}

impl std::error::Error for EntryError {}

impl BootEntry {
    /// The entry `kv` holds. `generation` and `toplevel` are required; a
    /// missing or unreadable `tries` counts as none left, anything but `good=1`
    /// as not good. Values are trimmed.
    pub fn from_kv(kv: &KeyValues) -> Result<BootEntry, EntryError> {
        let get = |k| kv.get(k).map(|v| v.trim());
        let generation = get(GENERATION).ok_or(EntryError::Missing(GENERATION))?;
        Ok(BootEntry {
            generation: generation.parse().map_err(|_| EntryError::NotANumber {
                key: GENERATION,
                value: generation.to_string(),
            })?,
            toplevel: get(TOPLEVEL)
                .ok_or(EntryError::Missing(TOPLEVEL))?
                .to_string(),
            tries: get(TRIES).and_then(|t| t.parse().ok()).unwrap_or(0),
            good: get(GOOD) == Some("1"),
            reason: get(REASON).unwrap_or_default().to_string(),
        })
    }

    pub fn parse(text: &str) -> Result<BootEntry, EntryError> {
        BootEntry::from_kv(&kv::parse(text))
    }

    pub fn to_kv(&self) -> KeyValues {
        [
            (GENERATION, self.generation.to_string()),
            (TOPLEVEL, self.toplevel.clone()),
            (TRIES, self.tries.to_string()),
            (GOOD, u8::from(self.good).to_string()),
            (REASON, self.reason.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn render(&self) -> String {
        kv::render(KEYS, &self.to_kv())
    }
}

/// What stage 1 recorded about the last boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastBoot {
    /// The generation it booted (`None`: the kernel command line decided).
    pub generation: Option<u32>,
    /// Generations it skipped.
    pub skipped: Vec<u32>,
    pub skipped_reason: String,
}

impl LastBoot {
    /// Lenient: whatever cannot be read is left out (stage 1 writes it in its
    /// last moments before the hand-over).
    pub fn parse(text: &str) -> LastBoot {
        let kv = kv::parse(text);
        LastBoot {
            generation: kv.get(GENERATION).and_then(|v| v.trim().parse().ok()),
            skipped: kv
                .get(SKIPPED)
                .map(|v| {
                    v.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
            skipped_reason: kv
                .get(SKIPPED_REASON)
                .map(|v| v.trim().to_string())
                .unwrap_or_default(),
        }
    }

    pub fn render(&self) -> String {
        let skipped: Vec<String> = self.skipped.iter().map(u32::to_string).collect();
        let kv: KeyValues = [
            (GENERATION, self.generation.map(|g| g.to_string())),
            (SKIPPED, Some(skipped.join(" "))),
            (SKIPPED_REASON, Some(self.skipped_reason.clone())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.unwrap_or_default()))
        .collect();
        kv::render(LAST_BOOT_KEYS, &kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> BootEntry {
        BootEntry {
            generation: 2,
            toplevel: "/b8g/store/x".into(),
            tries: 2,
            good: false,
            reason: String::new(),
        }
    }

    #[test]
    fn entries_render_in_stage_1_order_and_round_trip() {
        let e = entry();
        assert_eq!(
            e.render(),
            "generation=2\ntoplevel=/b8g/store/x\ntries=2\ngood=0\nreason=\n"
        );
        assert_eq!(BootEntry::parse(&e.render()), Ok(e.clone()));
        let judged = BootEntry {
            good: true,
            reason: "default.target\nwas not reached".into(),
            ..e
        };
        let text = judged.render();
        assert!(text.ends_with("good=1\nreason=default.target was not reached\n"));
        assert_eq!(
            BootEntry::parse(&text).map(|e| e.reason),
            Ok("default.target was not reached".into())
        );
    }

    #[test]
    fn entries_read_leniently_but_need_a_generation_and_toplevel() {
        let e = BootEntry::parse("toplevel= /t \ngeneration= 4\ngood=yes\ntries=x\nnew=1\n");
        assert_eq!(
            e,
            Ok(BootEntry {
                generation: 4,
                toplevel: "/t".into(),
                tries: 0,
                good: false,
                reason: String::new()
            })
        );
        assert_eq!(
            BootEntry::parse("toplevel=/t\n"),
            Err(EntryError::Missing(GENERATION))
        );
        assert_eq!(
            BootEntry::parse("generation=1\n"),
            Err(EntryError::Missing(TOPLEVEL))
        );
        assert!(matches!(
            BootEntry::parse("generation=one\ntoplevel=/t\n"),
            Err(EntryError::NotANumber { .. })
        ));
    }

    #[test]
    fn the_boot_record_round_trips() {
        let lb = LastBoot {
            generation: Some(2),
            skipped: vec![3],
            skipped_reason: "multi-user.target was not reached".into(),
        };
        let text = lb.render();
        assert_eq!(
            text,
            "generation=2\nskipped=3\nskipped_reason=multi-user.target was not reached\n"
        );
        assert_eq!(LastBoot::parse(&text), lb);
        // From the command line, nothing skipped: what stage 1 writes then.
        let none = LastBoot::parse("generation=\nskipped=\nskipped_reason=\n");
        assert_eq!(none, LastBoot::default());
        assert_eq!(none.render(), "generation=\nskipped=\nskipped_reason=\n");
        assert_eq!(LastBoot::parse("").generation, None);
    }
}
