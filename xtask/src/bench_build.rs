//! `cargo xtask bench build`: b8g-build against nix-build: a wide fan and a chain of trivial derivations (issue 4).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("the build benchmark is not written yet")
}
