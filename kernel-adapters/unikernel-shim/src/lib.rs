//! b8g-unikernel-shim: PID 1 of a b8g unikernel image.
//!
//! It does what a full init would not need to keep small: mount `/proc`, `/sys`
//! and `/dev`, load the kernel modules the image lists (stock kernels only),
//! give the network a static address, run the one application with its
//! arguments and environment, and power the VM off with the application's exit
//! status (qemu `isa-debug-exit`: the host sees `(code << 1) | 1`).
//! It depends only on libc and b8g-layout (std only, where the configuration
//! and console formats live), so it links statically and starts fast.

pub mod sys;

pub use b8g_layout::unikernel::config;
use b8g_layout::unikernel::console;
use config::Config;

/// Boots the app as the configuration says; returns the code to report.
/// Failures before the app starts are printed and reported as 125.
pub fn run() -> i32 {
    match try_run() {
        Ok(code) => {
            println!("{}", console::exited_line(code));
            code
        }
        Err(e) => {
            eprintln!("b8g-unikernel: {e}");
            125
        }
    }
}

fn try_run() -> Result<i32, Box<dyn std::error::Error>> {
    sys::mount_api_filesystems()?;
    let text = std::fs::read_to_string(config::PATH)
        .map_err(|e| format!("cannot read {}: {e}", config::PATH))?;
    let cfg = Config::parse(&text)?;
    for m in &cfg.modules {
        sys::load_module(m)?;
    }
    sys::configure_network(cfg.network.as_ref())?;
    Ok(sys::run_app(&cfg.app, &cfg.args, &cfg.env, &cfg.cwd)?)
}
