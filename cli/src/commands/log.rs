//! `b8g log PATH`: print the build log of a derivation or of a store path
//! (through the derivation that built it). Logs live under
//! `<state>/log/drvs/` (see `b8g_builder::realise::log_path`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A `.drv` path, an output path, or a file inside one (e.g. `result/bin/hello` resolved).
    #[arg(value_name = "PATH")]
    path: String,
}

pub fn exec(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    // `result` links point at the physical path; accept those too.
    let path = match std::fs::canonicalize(&args.path) {
        Ok(real) if real.starts_with(store.real_store_dir()) => {
            let rel = real
                .strip_prefix(store.real_store_dir())
                .unwrap_or(&real)
                .to_string_lossy()
                .into_owned();
            format!("{}/{rel}", store.store_dir().as_str())
        }
        _ => args.path.clone(),
    };
    let log = b8g_builder::realise::find_log(&store, &path)?;
    let data = std::fs::read(&log).with_context(|| format!("cannot read {}", log.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&data)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
