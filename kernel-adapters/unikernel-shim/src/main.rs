//! The shim's entry point: run the app, then power off with its status.

fn main() {
    // It mounts, configures the network and powers off: only ever as PID 1 of a VM.
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != 1 {
        eprintln!("b8g-unikernel-shim: must run as PID 1 (the /init of a unikernel image)");
        std::process::exit(2);
    }
    let code = b8g_unikernel_shim::run();
    b8g_unikernel_shim::sys::power_off(code)
}
