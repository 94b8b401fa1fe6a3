//! `cargo xtask bench unikernel`: unikernel against the full system: image size, boot time, qemu RSS (issue 9).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("the unikernel benchmark is not written yet")
}
