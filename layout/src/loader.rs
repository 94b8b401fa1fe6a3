//! Generations as systemd-boot sees them: Boot Loader Specification entries
//! on the EFI system partition, with boot counters in their file names.
//!
//! `b8g install` and `b8g system` write the entries; b8g-init's boot check
//! blesses the booted one when the boot is good (drops its counter, as
//! systemd-bless-boot does); systemd-boot counts the tries down by renaming.
//!
//! ```text
//! loader/entries/b8g-7.conf          generation 7, good (no counter)
//! loader/entries/b8g-8+3.conf        generation 8 on trial: 3 tries left
//! loader/entries/b8g-8+1-2.conf      after two boots that were not blessed
//! loader/entries/b8g-8+0-3.conf      out of tries: systemd-boot sorts it last
//! ```

/// Where the running system mounts the EFI system partition.
pub const ESP_MOUNT: &str = "/boot";
/// The entries directory, relative to the ESP.
pub const ENTRIES_DIR: &str = "loader/entries";
/// The loader's configuration, relative to the ESP.
pub const LOADER_CONF: &str = "loader/loader.conf";
/// On the kernel command line: the loader chose the generation.
pub const LOADER_PARAM: &str = "b8g.loader=systemd-boot";

/// An entry's file name: the generation and, while it is on trial, its
/// counters (tries left, tries done).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryName {
    pub generation: u32,
    pub tries: Option<(u32, u32)>,
}

impl EntryName {
    /// Parses `b8g-N.conf`, `b8g-N+L.conf` or `b8g-N+L-D.conf`.
    pub fn parse(file: &str) -> Option<EntryName> {
        let stem = file.strip_prefix("b8g-")?.strip_suffix(".conf")?;
        let (gen, counters) = match stem.split_once('+') {
            Some((g, c)) => (g, Some(c)),
            None => (stem, None),
        };
        let generation = number(gen)?;
        let tries = match counters {
            None => None,
            Some(c) => Some(match c.split_once('-') {
                Some((left, done)) => (number(left)?, number(done)?),
                None => (number(c)?, 0),
            }),
        };
        let name = EntryName { generation, tries };
        // One spelling per entry (no `b8g-02.conf`), so a name b8g renders is
        // the name on the disk.
        (name.render() == file).then_some(name)
    }

    pub fn render(&self) -> String {
        match self.tries {
            None => format!("b8g-{}.conf", self.generation),
            Some((left, 0)) => format!("b8g-{}+{left}.conf", self.generation),
            Some((left, done)) => format!("b8g-{}+{left}-{done}.conf", self.generation),
        }
    }

    /// Out of tries: systemd-boot no longer picks it by itself.
    pub fn is_bad(&self) -> bool {
        matches!(self.tries, Some((0, _)))
    }

    /// The name once the generation is known good.
    pub fn blessed(&self) -> EntryName {
        EntryName {
            generation: self.generation,
            tries: None,
        }
    }
}

/// Digits only (no sign, no leading `+`), as systemd-boot reads counters.
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bless() {
        for (file, gen, tries) in [
            ("b8g-7.conf", 7, None),
            ("b8g-8+3.conf", 8, Some((3, 0))),
            ("b8g-8+1-2.conf", 8, Some((1, 2))),
            ("b8g-12+0-3.conf", 12, Some((0, 3))),
        ] {
            let n = EntryName::parse(file).expect(file);
            assert_eq!((n.generation, n.tries), (gen, tries));
            assert_eq!(n.render(), file);
            assert_eq!(n.blessed().render(), format!("b8g-{gen}.conf"));
        }
        assert!(EntryName::parse("b8g-12+0-3.conf").is_some_and(|n| n.is_bad()));
        assert!(!EntryName::parse("b8g-12+1-3.conf").is_some_and(|n| n.is_bad()));
        for bad in [
            "b8g-.conf",
            "b8g-x.conf",
            "b8g-1+.conf",
            "b8g-1+-1.conf",
            "b8g-1+1-.conf",
            "other-1.conf",
            "b8g-1.conf.tmp",
            "b8g--1.conf",
            "b8g-02.conf",
            "b8g-2+03.conf",
            "b8g-2+3-0.conf",
        ] {
            assert_eq!(EntryName::parse(bad), None, "{bad}");
        }
    }
}
