//! `b8gctl boot-check`: the b8g-init half of boot counting.
//!
//! Runs as `b8g-boot-check.service` (from `system.healthChecks`), started early
//! and on its own. It waits until b8g-init has reached or given up on the
//! default target, runs the generation's health checks, and then writes the
//! verdict into the booted generation's boot entry
//! (`/b8g/var/boot/entries/system-N.conf`, the file stage 1 reads): `good=1`,
//! or `reason=` with why not. A boot that is not good and whose generation is
//! not yet good is followed by a reboot, so stage 1 tries again or falls back.
//! It also says on the console why stage 1 skipped a generation, if it did.
//!
//! Not here: choosing a generation (stage 1) and writing entries (`b8g system`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use b8g_layout::boot_entry::{self, LastBoot};
use b8g_layout::generation::{entry_path, last_boot_path, BOOT_DIR};
use b8g_layout::kv::{self, KeyValues};
use b8g_layout::loader::{self, EntryName};

use crate::control::{call, Command as ControlCommand, Request};

/// Options of `b8gctl boot-check`.
#[derive(Debug, Clone)]
pub struct BootCheck {
    pub socket: PathBuf,
    pub boot_dir: PathBuf,
    /// An executable that exits 0 when the system is healthy; its output says why not.
    pub health: Option<PathBuf>,
    /// Units that must be active once the default target is reached.
    pub units: Vec<String>,
    /// How long to wait for the default target.
    pub timeout: Duration,
    /// Reboot after a failed boot of a generation that is not yet good.
    pub reboot: bool,
    pub console: PathBuf,
    /// The mounted EFI system partition, whose systemd-boot entry of a good
    /// generation loses its boot counter.
    pub esp: PathBuf,
}

impl BootCheck {
    /// Parses `[--health FILE] [--unit NAME]... [--boot-dir DIR] [--timeout SECS] [--no-reboot]`.
    pub fn from_args(socket: &Path, args: &[String]) -> Result<BootCheck, String> {
        let mut b = BootCheck {
            socket: socket.to_path_buf(),
            boot_dir: BOOT_DIR.into(),
            health: None,
            units: Vec::new(),
            timeout: Duration::from_secs(600),
            reboot: true,
            console: "/dev/console".into(),
            esp: loader::ESP_MOUNT.into(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{a} needs a value"))
            };
            match a.as_str() {
                "--health" => b.health = Some(val()?.into()),
                "--unit" => b.units.push(val()?),
                "--boot-dir" => b.boot_dir = val()?.into(),
                "--timeout" => {
                    b.timeout = Duration::from_secs(
                        val()?
                            .parse()
                            .map_err(|_| "--timeout takes seconds".to_string())?,
                    )
                }
                "--no-reboot" => b.reboot = false,
                "--console" => b.console = val()?.into(),
                "--esp" => b.esp = val()?.into(),
                other => return Err(format!("boot-check: unknown argument {other}")),
            }
        }
        Ok(b)
    }

    fn say(&self, msg: &str) {
        println!("{msg}");
        if let Ok(mut c) = fs::OpenOptions::new().write(true).open(&self.console) {
            let _ = writeln!(c, "{msg}");
        }
    }

    /// Waits for the default target: `Ok(())` once it is active, `Err(reason)` when it will not be.
    /// b8g-init says "starting" until its boot job for the default target has finished either way.
    fn wait_default_target(&self) -> Result<(), String> {
        let start = Instant::now();
        let ask = |units: Vec<String>| {
            call(&self.socket, &Request::new(ControlCommand::Status, units))
                .ok()
                .filter(|r| r.ok)
        };
        loop {
            if let Some(sys) = ask(vec![]) {
                match sys.data["state"].as_str().unwrap_or("") {
                    "starting" => {}
                    "stopping" => return Err("the system began shutting down while booting".into()),
                    _ => {
                        let t = ask(vec!["default.target".into()]);
                        let u = t.as_ref().map(|t| t.data[0].clone()).unwrap_or_default();
                        if u["active"].as_str() == Some("active") {
                            return Ok(());
                        }
                        let names: Vec<String> = sys.data["failed"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|f| f.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let target = u["name"].as_str().unwrap_or("default.target");
                        return Err(if names.is_empty() {
                            format!("{target} was not reached")
                        } else {
                            format!("{target} was not reached: {} failed", names.join(", "))
                        });
                    }
                }
            }
            if start.elapsed() > self.timeout {
                return Err(format!(
                    "default.target not reached within {} s",
                    self.timeout.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Each `--unit` must become active: a unit still starting is waited for
    /// (within the timeout); failed, or inactive with no job, is a verdict.
    fn units_active(&self) -> Result<(), String> {
        let start = Instant::now();
        for unit in &self.units {
            loop {
                let r = call(
                    &self.socket,
                    &Request::new(ControlCommand::Status, vec![unit.clone()]),
                )
                .map_err(|e| format!("cannot ask b8g-init about {unit}: {e}"))?;
                if !r.ok {
                    return Err(format!(
                        "health check unit {unit}: {}",
                        r.error.unwrap_or_default()
                    ));
                }
                let u = &r.data[0];
                let waiting = !u["job"].is_null();
                match u["active"].as_str().unwrap_or("") {
                    "active" | "reloading" => break,
                    "failed" => {
                        let result = u["result"].as_str().unwrap_or("failed");
                        return Err(format!("health check unit {unit} failed ({result})"));
                    }
                    "inactive" if !waiting => {
                        return Err(format!("health check unit {unit} is not running"));
                    }
                    _ => {}
                }
                if start.elapsed() > self.timeout {
                    return Err(format!(
                        "health check unit {unit} not active within {} s",
                        self.timeout.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        Ok(())
    }

    fn health(&self) -> Result<(), String> {
        self.units_active()?;
        let Some(h) = &self.health else { return Ok(()) };
        match Command::new(h).output() {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
                Err(if text.is_empty() {
                    format!("health checks failed ({})", o.status)
                } else {
                    text
                })
            }
            Err(e) => Err(format!("cannot run health checks {}: {e}", h.display())),
        }
    }

    /// Runs the check; returns the process exit code.
    pub fn run(&self) -> i32 {
        let last = LastBoot::parse(
            &fs::read_to_string(last_boot_path(&self.boot_dir)).unwrap_or_default(),
        );
        if !last.skipped.is_empty() {
            let skipped: Vec<String> = last.skipped.iter().map(u32::to_string).collect();
            self.say(&format!(
                "b8g: generation {} was skipped at boot: {}; running generation {}",
                skipped.join(" "),
                if last.skipped_reason.is_empty() {
                    "no reason recorded"
                } else {
                    &last.skipped_reason
                },
                match last.generation {
                    Some(g) => g.to_string(),
                    None => "from the kernel command line".to_string(),
                }
            ));
        }
        let verdict = self.wait_default_target().and_then(|()| self.health());
        let Some(gen) = last.generation else {
            // No boot entries (an image without a writable profile): nothing to record.
            return i32::from(verdict.is_err());
        };
        let entry = entry_path(&self.boot_dir, gen);
        // The entry is updated as key=value lines rather than as a BootEntry, so
        // that keys this b8g-init does not know survive the rewrite.
        let Some(mut kv) = read_kv(&entry) else {
            self.say(&format!("b8g: no boot entry {}", entry.display()));
            return 1;
        };
        let was_good = kv.get(boot_entry::GOOD).map(String::as_str) == Some("1");
        match &verdict {
            Ok(()) => {
                kv.insert(boot_entry::GOOD.into(), "1".into());
                kv.insert(boot_entry::REASON.into(), String::new());
            }
            Err(why) => {
                kv.insert(boot_entry::REASON.into(), why.clone());
            }
        }
        if let Err(e) = write_kv(&entry, &kv) {
            self.say(&format!("b8g: cannot update {}: {e}", entry.display()));
        }
        match verdict {
            Ok(()) => {
                self.say(&format!("b8g: generation {gen} is good"));
                match bless_loader_entry(&self.esp, gen) {
                    Ok(Some(name)) => self.say(&format!("b8g: boot loader entry {name} blessed")),
                    Ok(None) => {}
                    Err(e) => self.say(&format!(
                        "b8g: cannot bless the boot loader entry of generation {gen}: {e}"
                    )),
                }
                0
            }
            Err(why) => {
                self.say(&format!("b8g: boot of generation {gen} failed: {why}"));
                if !was_good && self.reboot {
                    self.say("b8g: rebooting so stage 1 can try again or fall back");
                    let _ = call(&self.socket, &Request::new(ControlCommand::Reboot, vec![]));
                }
                1
            }
        }
    }
}

/// Drops the boot counter from generation `gen`'s systemd-boot entry on the
/// ESP mounted at `esp` (`b8g-N+L-D.conf` becomes `b8g-N.conf`), as
/// systemd-bless-boot does, so the loader stops counting its boots. Returns
/// the new name, or `None` when there is no counted entry (no ESP, or a
/// generation already good).
pub fn bless_loader_entry(esp: &Path, gen: u32) -> std::io::Result<Option<String>> {
    let dir = esp.join(loader::ENTRIES_DIR);
    let list = match fs::read_dir(&dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for e in list {
        let e = e?;
        let Some(name) = EntryName::parse(&e.file_name().to_string_lossy()) else {
            continue;
        };
        if name.generation != gen || name.tries.is_none() {
            continue;
        }
        let blessed = name.blessed().render();
        fs::rename(e.path(), dir.join(&blessed))?;
        fs::File::open(&dir)?.sync_all()?;
        return Ok(Some(blessed));
    }
    Ok(None)
}

fn read_kv(p: &Path) -> Option<KeyValues> {
    Some(kv::parse(&fs::read_to_string(p).ok()?))
}

/// Writes an entry in stage 1's order (unknown keys after), atomically.
fn write_kv(p: &Path, kv: &KeyValues) -> std::io::Result<()> {
    let text = kv::render(boot_entry::KEYS, kv);
    let tmp = p.with_extension("conf.tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, p)?;
    if let Some(d) = p.parent() {
        fs::File::open(d)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_boot_drops_the_counter_of_its_loader_entry_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entries = dir.path().join("loader/entries");
        fs::create_dir_all(&entries).expect("mkdir");
        for f in [
            "b8g-3.conf",
            "b8g-4+1-2.conf",
            "b8g-44+3.conf",
            "other+1.conf",
        ] {
            fs::write(entries.join(f), f).expect("write");
        }
        assert_eq!(
            bless_loader_entry(dir.path(), 4).expect("bless").as_deref(),
            Some("b8g-4.conf")
        );
        assert_eq!(
            fs::read_to_string(entries.join("b8g-4.conf")).expect("read"),
            "b8g-4+1-2.conf"
        );
        // Already good, or no ESP: nothing to do.
        assert_eq!(bless_loader_entry(dir.path(), 3).expect("bless"), None);
        assert_eq!(
            bless_loader_entry(&dir.path().join("none"), 4).expect("bless"),
            None
        );
        let mut left: Vec<String> = fs::read_dir(&entries)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["b8g-3.conf", "b8g-4.conf", "b8g-44+3.conf", "other+1.conf"]
        );
    }

    #[test]
    fn entries_round_trip_in_stage_1_order() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("system-2.conf");
        fs::write(
            &p,
            "generation=2\ntoplevel=/b8g/store/x\ntries=2\ngood=0\nreason=\n",
        )
        .unwrap();
        let mut kv = read_kv(&p).unwrap();
        kv.insert("good".into(), "1".into());
        write_kv(&p, &kv).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "generation=2\ntoplevel=/b8g/store/x\ntries=2\ngood=1\nreason=\n"
        );
    }
}
