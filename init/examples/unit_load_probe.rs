//! What loading a root's units costs PID 1: the time of one load, and the heap the
//! unit set, the ordering graph and 1 000 log lines keep (bytes asked of the allocator).
//!
//! `cargo run --release -p b8g-init --example unit_load_probe -- ROOT [RUNS]`, where ROOT
//! holds `etc/systemd/system` and `lib/systemd/system` (a Debian root such as
//! `target/bench-boot/rootfs`). Build it with `--profile init-static` (and the musl
//! target) to measure PID 1's own build.

use std::alloc::{GlobalAlloc, Layout};

// The allocator b8g-init itself uses (src/bin/b8g-init.rs), counted.
#[cfg(target_env = "musl")]
use dlmalloc::GlobalDlmalloc as Inner;
#[cfg(not(target_env = "musl"))]
use std::alloc::System as Inner;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the real allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        // SAFETY: the caller's layout, passed on.
        unsafe { Inner.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: a block this allocator gave out, with its layout.
        unsafe { Inner.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn kb(bytes: usize) -> usize {
    bytes / 1024
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next().map(PathBuf::from) else {
        eprintln!("usage: unit_load_probe ROOT [RUNS]");
        std::process::exit(2);
    };
    let runs: u32 = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let opts = b8g_init::unit::load::LoadOptions {
        unit_dirs: [
            "etc/systemd/system",
            "lib/systemd/system",
            "usr/lib/systemd/system",
        ]
        .iter()
        .map(|d| root.join(d))
        .collect(),
        specifier_dirs: Default::default(),
        links_only: true,
        roots: Some(vec!["graphical.target".into()]),
    };
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(b8g_init::unit::load::load(&opts, vec![]));
    }
    println!(
        "one load: {:.2} ms (mean of {runs})",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(runs)
    );

    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(b8g_init::sysv::generate(&root.join("etc")));
    }
    println!(
        "SysV scripts: {:.2} ms (mean of {runs})",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(runs)
    );

    let before = LIVE.load(Relaxed);
    let set = b8g_init::unit::load::load(&opts, vec![]);
    let after_set = LIVE.load(Relaxed);
    let engine = b8g_init::engine::Engine::new(&set);
    let after_engine = LIVE.load(Relaxed);
    let mut logs = b8g_init::log::Logs::new(std::env::temp_dir(), Instant::now());
    logs.to_files = false;
    for i in 0..1000 {
        logs.push(
            "kernel",
            &format!(
                "[    0.{i:03}] ACPI: Reserving FACP table memory at [mem 0x7ffe19df-0x7ffe1a52]"
            ),
        );
    }
    let after_logs = LIVE.load(Relaxed);
    println!(
        "{} units: unit set {} kB, ordering graph {} kB; 1 000 log lines {} kB",
        set.units.len(),
        kb(after_set - before),
        kb(after_engine - after_set),
        kb(after_logs - after_engine)
    );
    std::hint::black_box((&set, &engine, &logs));
}
