//! `cargo xtask bench eval`: b8g-eval against nix-instantiate --eval --strict: time and peak RSS (issue 3).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("the eval benchmark is not written yet")
}
