//! `cargo xtask bench boot`: b8g-init against systemd: boot time and PID 1 memory (issue 5).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("the boot benchmark is not written yet")
}
