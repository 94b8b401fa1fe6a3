//! `cargo xtask bench system`: no-op rebuild, evaluation and boot time of images/minimal.nix (issue 6).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("the system benchmark is not written yet")
}
