//! `cargo xtask bench cache`: cache push and pull against nix copy and cp -a (issue 8).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("the cache benchmark is not written yet")
}
