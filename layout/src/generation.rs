//! Where a machine keeps its generations, as `b8g system` writes them and
//! stage 1, b8g-init and image builders read them (all logical paths, to be
//! put under a physical root where one is used):
//!
//! ```text
//! /b8g/var/profiles/system -> system-N-link -> <toplevel>
//! /b8g/var/boot/entries/system-N.conf          one boot entry per generation (boot_entry.rs)
//! /b8g/var/boot/last-boot                      what stage 1 booted and skipped
//! /b8g/var/boot/extlinux/extlinux.conf         the same generations for a boot loader
//! ```
//!
//! [`toplevel`] names the files of a generation that others read.

use std::path::{Path, PathBuf};

/// The directory of profiles (logical).
pub const PROFILES_DIR: &str = "/b8g/var/profiles";
/// The profile naming the system's default generation.
pub const SYSTEM_PROFILE: &str = "system";
/// The boot directory (logical): entries, the boot record, the boot loader configuration.
pub const BOOT_DIR: &str = "/b8g/var/boot";
/// The directory of entries, in the boot directory.
pub const ENTRIES_DIR: &str = "entries";
/// Stage 1's record of the last boot, in the boot directory.
pub const LAST_BOOT_FILE: &str = "last-boot";
/// The control socket of a running b8g-init (`b8gctl` talks to it).
pub const CONTROL_SOCKET: &str = "/run/b8g/control";
/// The running generation's toplevel (made by every activation).
pub const CURRENT_SYSTEM: &str = "/run/current-system";
/// The toplevel this boot started with (made by the first activation of a boot).
pub const BOOTED_SYSTEM: &str = "/run/booted-system";
/// The extlinux directory, in the boot directory.
pub const EXTLINUX_DIR: &str = "extlinux";
/// The extlinux configuration, in [`EXTLINUX_DIR`].
pub const EXTLINUX_FILE: &str = "extlinux.conf";

/// The link of generation `n` of `profile`: `system-N-link`.
pub fn generation_link_name(profile: &str, n: u32) -> String {
    format!("{profile}-{n}-link")
}

/// The generation a link name (or a profile link's target) of `profile` names.
pub fn parse_generation_link_name(profile: &str, name: &str) -> Option<u32> {
    name.strip_prefix(profile)?
        .strip_prefix('-')?
        .strip_suffix("-link")?
        .parse()
        .ok()
}

/// The entry file of generation `n`: `system-N.conf`.
pub fn entry_file_name(n: u32) -> String {
    format!("system-{n}.conf")
}

/// True for a name shaped like an entry file. Which generation an entry is
/// for is read from its contents, not its name.
pub fn is_entry_file_name(name: &str) -> bool {
    name.starts_with("system-") && name.ends_with(".conf")
}

/// `<boot_dir>/entries/system-N.conf`.
pub fn entry_path(boot_dir: &Path, n: u32) -> PathBuf {
    boot_dir.join(ENTRIES_DIR).join(entry_file_name(n))
}

/// `<boot_dir>/last-boot`.
pub fn last_boot_path(boot_dir: &Path) -> PathBuf {
    boot_dir.join(LAST_BOOT_FILE)
}

/// The files of a system toplevel (`<store>/<hash>-b8g-system-<name>`) that
/// are read outside the module system that writes them.
pub mod toplevel {
    /// The link to b8g-init; a toplevel without it is not a system.
    pub const INIT: &str = "init";
    pub const KERNEL: &str = "kernel";
    pub const INITRD: &str = "initrd";
    /// The kernel command line, with [`PLACEHOLDER`] for the toplevel's own path.
    pub const KERNEL_PARAMS: &str = "kernel-params";
    /// How many boots a new generation gets before it must be good.
    pub const BOOT_TRIES: &str = "boot-tries";
    /// systemd-boot's EFI program, present when the system boots through it.
    pub const SYSTEMD_BOOT: &str = "systemd-boot";
    /// The boot menu's timeout in seconds, beside [`SYSTEMD_BOOT`].
    pub const LOADER_TIMEOUT: &str = "loader-timeout";
    /// What stands for the toplevel's path in [`KERNEL_PARAMS`].
    pub const PLACEHOLDER: &str = "@toplevel@";
    /// The kernel parameter naming the generation to boot.
    pub const SYSTEM_PARAM: &str = "b8g.system=";

    /// `params` (or one word of them) with the toplevel's path filled in.
    pub fn fill_in(params: &str, toplevel: &str) -> String {
        params.replace(PLACEHOLDER, toplevel)
    }

    /// `b8g.system=<toplevel>`: the command line of a toplevel without `kernel-params`.
    pub fn system_param(toplevel: &str) -> String {
        format!("{SYSTEM_PARAM}{toplevel}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_round_trip() {
        for n in [1, 2, 40] {
            let name = generation_link_name(SYSTEM_PROFILE, n);
            assert_eq!(parse_generation_link_name(SYSTEM_PROFILE, &name), Some(n));
        }
        assert_eq!(generation_link_name("system", 3), "system-3-link");
        assert_eq!(parse_generation_link_name("system", "system"), None);
        assert_eq!(parse_generation_link_name("system", "systemx-3-link"), None);
        assert_eq!(
            parse_generation_link_name("system", ".system-3-link.tmp-1"),
            None
        );
        assert_eq!(parse_generation_link_name("system", "system-x-link"), None);
    }

    #[test]
    fn entry_paths() {
        assert_eq!(
            entry_path(Path::new(BOOT_DIR), 2),
            Path::new("/b8g/var/boot/entries/system-2.conf")
        );
        assert_eq!(
            last_boot_path(Path::new(BOOT_DIR)),
            Path::new("/b8g/var/boot/last-boot")
        );
        assert!(is_entry_file_name(&entry_file_name(7)));
        assert!(!is_entry_file_name(".system-7.conf.tmp-1"));
    }

    #[test]
    fn kernel_params_name_the_toplevel() {
        assert_eq!(
            toplevel::fill_in("b8g.system=@toplevel@ quiet", "/b8g/store/x"),
            "b8g.system=/b8g/store/x quiet"
        );
        assert_eq!(toplevel::system_param("/s/t"), "b8g.system=/s/t");
    }
}
