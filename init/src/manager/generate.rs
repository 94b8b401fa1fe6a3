//! Running the generators before units are loaded (and at daemon-reload), and the
//! built-in fstab generator on a plain root.

use super::*;
use crate::generators::{self, Outputs};

/// How long all generators together may take (systemd's default timeout).
const GENERATORS_TIMEOUT: Duration = Duration::from_secs(90);

impl Manager {
    /// Runs the generators into `<run>/systemd/generator*` and returns the unit search
    /// path with their directories in it.
    pub(super) fn run_generators(&mut self) -> Vec<PathBuf> {
        let out = Outputs::under(&self.cfg.run_dir);
        if let Err(e) = out.reset() {
            self.say(&format!(
                "generators: cannot prepare {}: {e}",
                out.normal.display()
            ));
            return self.cfg.unit_dirs.clone();
        }
        let found = generators::find(&self.cfg.generator_dirs());
        // systemd's own fstab generator, where installed, does the job (and more).
        let systemd_fstab = found.iter().any(|g| {
            g.file_name()
                .is_some_and(|f| f == "systemd-fstab-generator")
        });
        // On a plain root /etc/fstab says what to mount; a generation has its own
        // mount units.
        if self.cfg.system.is_none() && !systemd_fstab {
            let fstab = self.cfg.etc_dir.join("fstab");
            if let Ok(text) = std::fs::read_to_string(&fstab) {
                let prefix = self.cfg.etc_dir.parent().unwrap_or(Path::new("/"));
                let fsck = ["usr/sbin/fsck", "sbin/fsck"]
                    .iter()
                    .map(|p| prefix.join(p))
                    .find(|p| p.is_file());
                let (units, notes) =
                    generators::fstab(&text, Path::new("/etc/fstab"), fsck.as_deref());
                for n in notes {
                    self.logs.push(MANAGER, &n);
                }
                if let Err(e) = generators::write(&out.normal, &units) {
                    self.say(&format!("fstab generator: {e}"));
                }
            }
        }
        if self.cfg.system.is_none() {
            let prefix = self.cfg.etc_dir.parent().unwrap_or(Path::new("/"));
            if let Err(e) = generators::write(&out.late, &generators::standalone_tools(prefix)) {
                self.say(&format!("tmpfiles/sysusers units: {e}"));
            }
        }
        for line in generators::run(&found, &out, GENERATORS_TIMEOUT) {
            self.logs.push(MANAGER, &line);
        }
        out.search_path(&self.cfg.unit_dirs)
    }

    /// systemd-remount-fs: `/` gets the options fstab gives it (read-write unless they
    /// say `ro`). Only on a real boot of a plain root.
    pub fn remount_root_from_fstab(&mut self) {
        if !self.cfg.boot || self.cfg.system.is_some() {
            return;
        }
        let Ok(text) = std::fs::read_to_string(self.cfg.etc_dir.join("fstab")) else {
            return;
        };
        let Some(opts) = generators::root_options(&text) else {
            return;
        };
        let opts: Vec<&str> = opts
            .split(',')
            .filter(|o| {
                !o.starts_with("x-") && !matches!(*o, "nofail" | "noauto" | "auto" | "_netdev")
            })
            .collect();
        let all = format!("remount,{}", opts.join(","));
        if let Err(e) = do_mount("none", Path::new("/"), None, &all) {
            self.say(&format!("remounting / ({all}): {e}"));
        }
    }
}
