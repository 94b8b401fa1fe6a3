//! `b8g snapshot`: whole-system snapshots — a generation's closure as one
//! signed, compressed file, and its verified import into another store.
//! Thin over `b8g_system::generations::snapshot`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use b8g_system::generations::{snapshot, Generations};

use super::cache::{read_public_keys, read_secret_key};
use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profiles directory (physical), instead of /b8g/var/profiles under the store root.
    #[arg(long, global = true, value_name = "DIR")]
    profile: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Write the closure of a generation (number or toplevel path) to FILE, signed.
    Export {
        generation: String,
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Secret key file to sign with (`b8g cache key generate`).
        #[arg(long, value_name = "FILE", required = true)]
        key: PathBuf,
    },
    /// Verify a snapshot against trusted keys and add its closure to the store; prints the toplevel.
    Import {
        file: PathBuf,
        /// Keys (`name:base64`, or files holding one) whose signatures are accepted. Repeat the option, or separate them with spaces.
        #[arg(long, action = clap::ArgAction::Append, value_delimiter = ' ', value_name = "KEY", required = true)]
        trusted_public_keys: Vec<String>,
        /// Also make it the default generation for the next boot (`b8g system boot`).
        #[arg(long)]
        boot: bool,
    },
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    let store = global.open_store()?;
    let gens = Generations::new(global.root.as_deref(), args.profile.as_deref());
    match args.command {
        Cmd::Export {
            generation,
            output,
            key,
        } => {
            let key = read_secret_key(&key)?;
            let top = match generation.parse::<u32>() {
                Ok(n) => store.parse_path(&gens.profile.toplevel(n)?)?,
                Err(_) => store.resolve_arg(&generation)?,
            };
            let r = snapshot::export(&store, &top, &key, &output)?;
            eprintln!(
                "{}: {} paths, {} bytes of NARs in {} bytes",
                output.display(),
                r.paths,
                r.nar_bytes,
                r.file_bytes
            );
        }
        Cmd::Import {
            file,
            trusted_public_keys,
            boot,
        } => {
            let keys = read_public_keys(&trusted_public_keys)?;
            let top = snapshot::import(&store, &file, &keys)?;
            if boot {
                let n = gens.install(&store, &top, true)?;
                eprintln!("generation {n} boots next");
            }
            println!("{}", store.print_path(&top));
        }
    }
    Ok(ExitCode::SUCCESS)
}
