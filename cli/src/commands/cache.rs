//! `b8g cache`: signing keys, and pushing to, pulling from, serving and
//! verifying binary caches in Nix's layout. Thin over `b8g_store::cache`.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use b8g_store::cache::server::{self, ServeLimits, ServeOptions};
use b8g_store::cache::{self, BinaryCache, PushOptions};
use b8g_store::format::narinfo::Compression;
use b8g_store::format::signing::{PublicKey, SecretKey};
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::LocalStore;
use clap::Subcommand;

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Manage ed25519 signing keys (Nix's `name:base64` format).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Upload store paths (their closure by default) to a cache.
    Push {
        /// `file:///dir`, `http(s)://host/prefix` or `s3://bucket?endpoint=…&region=…`.
        url: String,
        /// Store paths to push.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Push only the given paths, not their closure.
        #[arg(long)]
        no_closure: bool,
        /// NAR compression.
        #[arg(long, default_value = "zstd", value_parser = ["zstd", "xz", "none"])]
        compression: String,
        /// zstd level (the default 1 compresses about twice as fast as 3, Nix's level, for files about 10% larger).
        #[arg(long, default_value_t = cache::compress::ZSTD_LEVEL, value_parser = clap::value_parser!(i32).range(-7..=19))]
        zstd_level: i32,
        /// Secret key file to sign narinfos with.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// NAR uploads in flight at once.
        #[arg(short, long, default_value_t = 4)]
        jobs: usize,
        /// Bearer token for HTTP uploads.
        #[arg(long, env = "B8G_CACHE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Sign store paths with a secret key; the signature is kept in the store
    /// and travels with every later push.
    Sign {
        /// Secret key file.
        #[arg(long, value_name = "FILE", required = true)]
        key: PathBuf,
        /// Sign the closure of the paths, not only them.
        #[arg(short, long)]
        recursive: bool,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Substitute store paths (and their closures) from caches, accepting
    /// only paths signed by a trusted key.
    Pull {
        /// Store paths to fetch; a leading `scheme://` argument is taken as a cache.
        #[arg(required = true)]
        args: Vec<String>,
        /// Caches to ask (all at once; the first good answer wins). Repeat the option, or separate them with spaces.
        #[arg(long, action = clap::ArgAction::Append, value_delimiter = ' ', value_name = "URL")]
        substituters: Vec<String>,
        /// Trusted public keys, as `name:base64` or files holding one. Repeat the option, or separate them with spaces.
        #[arg(long, action = clap::ArgAction::Append, value_delimiter = ' ', value_name = "KEY", required = true)]
        trusted_public_keys: Vec<String>,
    },
    /// Serve the local store as a binary cache over HTTP.
    Serve {
        /// Serve this cache (`s3://…`, `file://…`, `http(s)://…`) read-only instead of
        /// the local store: narinfos and NARs pass through unchanged, unsigned by us.
        #[arg(long, value_name = "URL", conflicts_with_all = ["key", "push_token_file"])]
        from: Option<String>,
        /// Port to listen on.
        #[arg(long, default_value_t = 5000)]
        port: u16,
        /// Address to bind; loopback unless you mean otherwise.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Secret key file: every narinfo served is signed with it.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// File holding a token that enables pushing (`PUT`) with `Authorization: Bearer <token>`.
        #[arg(long, value_name = "FILE", requires = "push_keys")]
        push_token_file: Option<PathBuf>,
        /// Keys (`name:base64` or files holding one) whose signature a pushed
        /// narinfo must carry: the token lets a client upload, a push key vouches. Repeat the option, or separate them with spaces.
        #[arg(long = "push-key", action = clap::ArgAction::Append, value_delimiter = ' ', value_name = "KEY", requires = "push_token_file")]
        push_keys: Vec<String>,
        /// Compression of served NARs.
        #[arg(long, default_value = "zstd", value_parser = ["zstd", "xz", "none"])]
        compression: String,
        /// zstd level of served NARs (paid on every download; the default 1 is about twice as fast as 3).
        #[arg(long, default_value_t = cache::compress::ZSTD_LEVEL, value_parser = clap::value_parser!(i32).range(-7..=19))]
        zstd_level: i32,
        /// `Priority` advertised in nix-cache-info (lower is preferred).
        #[arg(long, default_value_t = 40)]
        priority: u32,
        /// Connections served at once; more wait until one ends.
        #[arg(long, default_value_t = ServeLimits::default().max_connections)]
        max_connections: usize,
        /// Connections from one client address (an IPv6 /64) at once; more are closed.
        #[arg(long, default_value_t = ServeLimits::default().max_connections_per_address)]
        max_connections_per_address: usize,
        /// Seconds after which a connection is closed, once its current response is sent.
        #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().connection_lifetime.as_secs())]
        connection_lifetime: u64,
        /// Seconds a connection has to send its request head before it is closed.
        #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().header_timeout.as_secs())]
        header_timeout: u64,
        /// Largest NAR file a push may upload, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = ServeLimits::default().max_upload)]
        max_upload_size: u64,
        /// Most bytes staged uploads (NARs whose narinfo has not come) may hold together.
        #[arg(long, value_name = "BYTES", default_value_t = ServeLimits::default().max_staged)]
        max_staged_size: u64,
        /// Seconds an upload may send nothing before it is dropped.
        #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().upload_idle_timeout.as_secs())]
        upload_idle_timeout: u64,
        /// Seconds a small request body (a narinfo, an existence query) has to arrive whole.
        #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().body_timeout.as_secs())]
        body_timeout: u64,
        /// Seconds a download may take nothing before it is dropped.
        #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().download_idle_timeout.as_secs())]
        download_idle_timeout: u64,
        /// Seconds after which an uploaded NAR whose narinfo never came is removed.
        #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().staged_expiry.as_secs())]
        staged_expiry: u64,
    },
    /// Print which of the store paths a cache has (their narinfos exist);
    /// exit 1 if it lacks any. Nothing is fetched or checked.
    Query {
        /// The cache (`file://`, `http(s)://`, `s3://`).
        url: String,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Check every narinfo signature and NAR hash in a cache.
    Verify {
        /// The cache (`file://`, `http(s)://`, `s3://`).
        url: String,
        /// Trusted public keys, as `name:base64` or files holding one. Repeat the option, or separate them with spaces.
        #[arg(long, action = clap::ArgAction::Append, value_delimiter = ' ', value_name = "KEY", required = true)]
        trusted_public_keys: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Make a key pair: writes `NAME:base64(secret)` and `NAME:base64(public)`.
    Generate {
        /// Key name, conventionally the cache's host name plus `-1`.
        name: String,
        /// Secret key file (created with mode 0600; default `NAME.secret`).
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
        /// Public key file (default `NAME.public`).
        #[arg(long, value_name = "FILE")]
        public_file: Option<PathBuf>,
    },
    /// Print the public key of a secret key file.
    Public { secret_file: PathBuf },
}

fn open_store(global: &GlobalArgs) -> Result<LocalStore> {
    global.open_store()
}

pub(super) fn read_secret_key(file: &Path) -> Result<SecretKey> {
    let text = fs::read_to_string(file)
        .with_context(|| format!("cannot read secret key {}", file.display()))?;
    SecretKey::parse(&text).with_context(|| format!("invalid secret key in {}", file.display()))
}

/// A key given literally (`name:base64`) or as a file holding one.
pub(super) fn read_public_keys(args: &[String]) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    for a in args {
        // Nix separates keys by spaces in one option value; accept that too.
        for word in a.split_whitespace() {
            let key = if Path::new(word).is_file() {
                let text = fs::read_to_string(word)
                    .with_context(|| format!("cannot read public key {word}"))?;
                PublicKey::parse(&text).with_context(|| format!("invalid public key in {word}"))?
            } else {
                PublicKey::parse(word).with_context(|| format!("invalid public key {word:?}"))?
            };
            keys.push(key);
        }
    }
    Ok(keys)
}

fn generate_key(name: &str, secret_file: &Path, public_file: &Path) -> Result<()> {
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("cannot read random bytes from /dev/urandom")?;
    let key = SecretKey::from_seed(name, &seed).context("invalid key name")?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(secret_file)
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist yet)",
                secret_file.display()
            )
        })?;
    f.write_all(key.to_text().as_bytes())
        .with_context(|| format!("cannot write {}", secret_file.display()))?;
    fs::write(public_file, key.public().to_string())
        .with_context(|| format!("cannot write {}", public_file.display()))?;
    Ok(())
}

fn push(global: &GlobalArgs, url: &str, paths: &[String], opts: PushArgs) -> Result<ExitCode> {
    let store = open_store(global)?;
    let paths: Vec<StorePath> = paths
        .iter()
        .map(|p| store.resolve_arg(p))
        .collect::<Result<_, _>>()?;
    let key = opts.key.as_deref().map(read_secret_key).transpose()?;
    let target =
        cache::open(url, opts.token).with_context(|| format!("cannot open cache {url}"))?;
    let bar = indicatif::ProgressBar::hidden();
    // indicatif draws only on a terminal; -q silences it there too.
    if global.quiet == 0 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let count = Mutex::new(0usize);
    let progress = |ev: cache::PushEvent<'_>| match ev {
        cache::PushEvent::Planned {
            paths,
            nar_bytes,
            skipped,
        } => {
            bar.set_length(nar_bytes);
            bar.set_message(format!("pushing {paths} paths ({skipped} already there)"));
        }
        cache::PushEvent::Uploaded { nar_size, .. } => {
            *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            bar.inc(nar_size);
        }
    };
    let push_opts = PushOptions {
        closure: !opts.no_closure,
        compression: Compression::from_name(&opts.compression),
        zstd_level: opts.zstd_level,
        key: key.as_ref(),
        jobs: opts.jobs,
        progress: Some(&progress),
    };
    let report = cache::push(&store, target.as_ref(), &paths, &push_opts)
        .with_context(|| format!("cannot push to {url}"))?;
    bar.finish_and_clear();
    if global.quiet == 0 {
        eprintln!(
            "pushed {} paths ({} NAR bytes, {} uploaded), {} already in {url}",
            report.pushed.len(),
            report.nar_bytes,
            report.file_bytes,
            report.skipped
        );
    }
    for p in &report.pushed {
        println!("{}", store.print_path(p));
    }
    Ok(ExitCode::SUCCESS)
}

struct PushArgs {
    no_closure: bool,
    compression: String,
    zstd_level: i32,
    key: Option<PathBuf>,
    jobs: usize,
    token: Option<String>,
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    match args.command {
        CacheCommand::Key {
            command:
                KeyCommand::Generate {
                    name,
                    secret_file,
                    public_file,
                },
        } => {
            let secret = secret_file.unwrap_or_else(|| PathBuf::from(format!("{name}.secret")));
            let public = public_file.unwrap_or_else(|| PathBuf::from(format!("{name}.public")));
            generate_key(&name, &secret, &public)?;
            eprintln!("wrote {} and {}", secret.display(), public.display());
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Key {
            command: KeyCommand::Public { secret_file },
        } => {
            println!("{}", read_secret_key(&secret_file)?.public());
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Push {
            url,
            paths,
            no_closure,
            compression,
            zstd_level,
            key,
            jobs,
            token,
        } => push(
            global,
            &url,
            &paths,
            PushArgs {
                no_closure,
                compression,
                zstd_level,
                key,
                jobs,
                token,
            },
        ),
        CacheCommand::Sign {
            key,
            recursive,
            paths,
        } => {
            let store = open_store(global)?;
            let key = read_secret_key(&key)?;
            let mut paths: Vec<StorePath> = paths
                .iter()
                .map(|p| store.resolve_arg(p))
                .collect::<Result<_, _>>()?;
            if recursive {
                paths = store.closure(&paths)?.into_iter().collect();
            }
            let n = cache::sign_paths(&store, &key, &paths)?;
            eprintln!("added {n} signatures by {}", key.name());
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Pull {
            args,
            mut substituters,
            trusted_public_keys,
        } => {
            let mut paths = Vec::new();
            for a in args {
                if a.contains("://") {
                    substituters.push(a);
                } else {
                    paths.push(a);
                }
            }
            if substituters.is_empty() {
                bail!("no cache given: pass a URL or --substituters");
            }
            let keys = read_public_keys(&trusted_public_keys)?;
            let store = open_store(global)?;
            let paths: Vec<StorePath> = paths
                .iter()
                .map(|p| store.resolve_arg(p))
                .collect::<Result<_, _>>()?;
            let caches: Vec<Arc<dyn BinaryCache>> = substituters
                .iter()
                .map(|u| {
                    cache::open(u, None)
                        .map(Arc::from)
                        .with_context(|| format!("cannot open cache {u}"))
                })
                .collect::<Result<_>>()?;
            let report = cache::substitute(&paths, &caches, &keys, &store)?;
            if global.quiet == 0 {
                for (p, from) in &report.substituted {
                    eprintln!("copied {} from {from}", store.print_path(p));
                }
                eprintln!(
                    "{} paths substituted, {} already valid",
                    report.substituted.len(),
                    report.already_valid
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Serve {
            from,
            port,
            bind,
            key,
            push_token_file,
            push_keys,
            compression,
            zstd_level,
            priority,
            max_connections,
            max_connections_per_address,
            connection_lifetime,
            header_timeout,
            max_upload_size,
            max_staged_size,
            upload_idle_timeout,
            body_timeout,
            download_idle_timeout,
            staged_expiry,
        } => {
            let push_token = push_token_file
                .map(|f| {
                    fs::read_to_string(&f)
                        .map(|t| t.trim().to_owned())
                        .with_context(|| format!("cannot read push token {}", f.display()))
                })
                .transpose()?;
            if push_token.as_deref() == Some("") {
                bail!("the push token file is empty");
            }
            if !bind.is_loopback() {
                tracing::warn!("serving on {bind}, which is not a loopback address");
            }
            let opts = ServeOptions {
                addr: SocketAddr::new(bind, port),
                key: key.as_deref().map(read_secret_key).transpose()?,
                push_token,
                push_keys: read_public_keys(&push_keys)?,
                compression: Compression::from_name(&compression),
                zstd_level,
                priority,
                limits: ServeLimits {
                    header_timeout: Duration::from_secs(header_timeout),
                    max_connections,
                    max_connections_per_address,
                    connection_lifetime: Duration::from_secs(connection_lifetime),
                    max_upload: max_upload_size,
                    max_staged: max_staged_size,
                    upload_idle_timeout: Duration::from_secs(upload_idle_timeout),
                    body_timeout: Duration::from_secs(body_timeout),
                    download_idle_timeout: Duration::from_secs(download_idle_timeout),
                    staged_expiry: Duration::from_secs(staged_expiry),
                },
            };
            let handle = match &from {
                Some(url) => {
                    let cache = cache::open(url, None)
                        .with_context(|| format!("cannot open cache {url}"))?;
                    let handle = server::start_from(Arc::from(cache), opts)?;
                    eprintln!("serving {url} as a binary cache at {}", handle.url());
                    handle
                }
                None => {
                    let handle = server::start(Arc::new(open_store(global)?), opts)?;
                    eprintln!("serving the store as a binary cache at {}", handle.url());
                    handle
                }
            };
            handle.join()?;
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Query { url, paths } => {
            let store_dir = match &global.store_dir {
                Some(d) => StoreDir::new(d)?,
                None => StoreDir::default(),
            };
            let paths: Vec<StorePath> = paths
                .iter()
                .map(|p| store_dir.parse_path(p))
                .collect::<Result<_, _>>()
                .context("invalid store path")?;
            let target =
                cache::open(&url, None).with_context(|| format!("cannot open cache {url}"))?;
            let present = cache::cached_paths(target.as_ref(), &paths)?;
            let mut out = std::io::stdout().lock();
            for p in &paths {
                if present.contains(p) {
                    writeln!(out, "{}", store_dir.display(p))?;
                } else {
                    eprintln!("error: {} is not in {url}", store_dir.display(p));
                }
            }
            Ok(if present.len() == paths.len() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        CacheCommand::Verify {
            url,
            trusted_public_keys,
        } => {
            let keys = read_public_keys(&trusted_public_keys)?;
            let target =
                cache::open(&url, None).with_context(|| format!("cannot open cache {url}"))?;
            let store_dir = match target.cache_info()?.and_then(|i| i.store_dir) {
                Some(d) => StoreDir::new(&d).with_context(|| {
                    format!("cache {url} names an invalid store directory {d:?}")
                })?,
                None => match &global.store_dir {
                    Some(d) => StoreDir::new(d)?,
                    None => StoreDir::default(),
                },
            };
            let report = cache::verify_cache(target.as_ref(), &store_dir, &keys)?;
            for line in report.summary() {
                println!("{line}");
            }
            eprintln!(
                "checked {} paths in {url}: {} problems",
                report.checked,
                report.problems.len()
            );
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
