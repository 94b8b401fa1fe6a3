//! `b8g-init`: PID 1. Thin: set up (mounts, hostname, activate), build the manager,
//! start the default target and run the event loop forever. As PID 1 it never exits:
//! a fatal error drops to the emergency shell.

use b8g_init::config::Config;
use b8g_init::manager::{run, Manager};
use b8g_init::{boot, manager, sys};

/// On musl, dlmalloc: musl's allocator hands memory back to the kernel at almost every
/// free, and under emulation each munmap's TLB flush made loading the units twice as
/// slow. glibc's allocator is kept where b8g-init links glibc.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() {
    // PID 1 forks (shutdown, swaps, fd helpers): should it ever run a second thread, a
    // child must not inherit dlmalloc's lock held. Nothing else runs yet.
    // SAFETY: called once, before any other thread exists.
    #[cfg(target_env = "musl")]
    unsafe {
        dlmalloc::enable_alloc_after_fork();
    }
    // SAFETY: getpid has no preconditions.
    let pid1 = unsafe { libc::getpid() } == 1;
    std::panic::set_hook(Box::new(|info| {
        eprintln!("b8g-init: internal error: {info}")
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") && !pid1 {
        println!("usage: b8g-init [--root DIR] [--unit-dir DIR]... [--etc-dir DIR] [--run-dir DIR] [--state-dir DIR] [--log-dir DIR]\n       [--control-socket PATH] [--default-target UNIT] [--console PATH] [--timeout-start T] [--timeout-stop T]\n       [--kill-grace T] [--system PATH] [--boot|--no-boot] [--emergency-shell PATH]");
        return;
    }
    let rooted = args.iter().any(|a| a == "--root" || a == "--no-boot");
    if pid1 {
        boot::raise_nofile_hard_limit();
    }
    let mut early = Vec::new();
    if pid1 && !rooted {
        early = boot::mount_api_filesystems();
    } else if pid1 {
        // PID 1 of a new PID namespace (tests, containers): the inherited /proc shows the
        // parent namespace; mount our own so process scans see only our processes.
        if let Err(e) = sys::mount::do_mount(
            "proc",
            std::path::Path::new("/proc"),
            Some("proc"),
            "nosuid,nodev,noexec",
        ) {
            early.push(format!("mount /proc: {e}"));
        }
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let mut cfg = Config::system_defaults(cmdline.trim());
    if !pid1 {
        cfg.boot = false;
        cfg.console = None;
    }
    if let Err(e) = cfg.apply_args(&args) {
        eprintln!("b8g-init: {e}");
        if !pid1 {
            std::process::exit(2);
        }
    }
    let mut notes = early;
    if cfg.boot {
        if let Some(h) = boot::set_hostname(&cfg.etc_dir) {
            notes.push(format!("hostname set to {h}"));
        }
    }
    if let Err(e) = boot::loopback_up() {
        notes.push(format!("cannot bring up lo: {e}"));
    }
    if let Some(sys) = cfg.system.clone() {
        if let Some(m) = boot::run_activate(&sys) {
            notes.push(m);
        }
    }
    let created = std::panic::catch_unwind(|| Manager::new(cfg.clone()))
        .unwrap_or_else(|_| Err("internal error while loading units".to_string()));
    let mut mgr = match created {
        Ok(m) => m,
        Err(e) => {
            eprintln!("b8g-init: cannot start: {e}");
            if pid1 {
                boot::emergency_shell(&cfg);
            }
            std::process::exit(1);
        }
    };
    for n in notes {
        mgr.note(&n);
    }
    let target = cfg.default_target.clone();
    if let Err(e) = mgr.start_unit(&target, false) {
        mgr.note(&format!(
            "cannot start {target}: {e}; trying emergency.target"
        ));
        if mgr.start_unit("emergency.target", false).is_err() && pid1 {
            boot::emergency_shell(&cfg);
        }
    }
    run(&mut mgr);
    if pid1 {
        manager::never_exit(&cfg);
    }
}
