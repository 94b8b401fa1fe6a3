//! Building a derivation node on a remote machine, as Nix's build hook does
//! over `nix-store --serve`: copy the input closure the machine lacks, send
//! the derivation with its input derivations' outputs as input sources,
//! build, and copy the outputs back.
//!
//! What comes back is untrusted: each output must be one the derivation
//! names, its references must lie within the input closure and the outputs,
//! and its NAR must match the hash and size the machine declares for it
//! ([`LocalStore::import_nar`]). A machine that breaks any of this, or whose
//! session fails, is set aside for the run and the build goes elsewhere; a
//! build that fails on a working machine fails as a local one would.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use b8g_store::format::hash::Hash;
use b8g_store::format::store_path::FileIngestionMethod;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::{ContentAddress, NarExpectation, PathInfo};
use b8g_store::nar_fs;
use b8g_store::serve::client::ClientError;
use b8g_store::serve::BuildSettings;

use super::{BuildError, DrvJob, DrvNode, HOST_SYSTEM};
use crate::remote::watchdog::Fired;
use crate::remote::{Builders, Session, Slot};
use crate::sandbox::SandboxError;
use crate::schedule::JobContext;

/// The longest a login and greeting may take (less with a build's limits).
const CONNECT_LIMIT: Duration = Duration::from_secs(120);

/// The most of a machine's output kept and shown for one build.
const MAX_REMOTE_LOG: u64 = 64 << 20;

/// How long output is still read after the result came.
const LOG_GRACE: Duration = Duration::from_secs(1);

/// The longest error message of a machine shown.
const MAX_REMOTE_ERROR: usize = 4096;

/// How a remote attempt went wrong.
enum Failure {
    /// The build failed (or a local store operation did): the node fails.
    Build(BuildError),
    /// The machine failed: set it aside and try elsewhere.
    Machine(String),
}

fn machine(e: ClientError, session: &Session) -> Failure {
    // The session was ended here, not by the machine.
    if let Some(fired) = session.watchdog.fired() {
        let name = session.label.clone();
        return Failure::Build(BuildError::Sandbox(match fired {
            Fired::TimedOut(limit) => SandboxError::TimedOut { name, limit },
            Fired::Silent(limit) => SandboxError::Silent { name, limit },
            Fired::Cancelled => SandboxError::Cancelled { name },
        }));
    }
    let tail = session.stderr_tail();
    let tail = tail.trim();
    if tail.is_empty() {
        Failure::Machine(e.to_string())
    } else {
        Failure::Machine(format!("{e}; the remote said: {tail}"))
    }
}

/// A machine's error message as shown: at most [`MAX_REMOTE_ERROR`]
/// characters, control characters (escape sequences) escaped, lines kept.
fn shown_error(msg: &str) -> String {
    let mut out = String::new();
    for c in msg.chars().take(MAX_REMOTE_ERROR) {
        if c == '\n' || c == '\t' || !c.is_control() {
            out.push(c);
        } else {
            out.push_str(&c.escape_default().to_string());
        }
    }
    if msg.chars().count() > MAX_REMOTE_ERROR {
        out.push_str(" …");
    }
    out
}

/// Its required system features (`requiredSystemFeatures`).
fn required_features(node: &DrvNode) -> BTreeSet<String> {
    node.drv
        .env
        .get("requiredSystemFeatures")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

impl DrvJob<'_> {
    /// Builds `node` in a slot of `builders`: on a remote machine, or here.
    pub(super) fn build_anywhere(
        &self,
        builders: &Builders,
        node: &DrvNode,
        ctx: &JobContext<'_>,
    ) -> Result<(), BuildError> {
        // b8g's builtin builders exist only here (a Nix machine has none of
        // them); they run in-process, outside the slots, even with -j0.
        if node.drv.builder.starts_with("builtin:") {
            return self.build_here(node, ctx);
        }
        let local_ok = node.drv.system == HOST_SYSTEM;
        let prefer_local = node.drv.env.get("preferLocalBuild").map(String::as_str) == Some("1");
        let features = required_features(node);
        loop {
            let slot = builders
                .acquire(
                    &node.drv.system,
                    &features,
                    local_ok,
                    prefer_local,
                    ctx.cancel(),
                )
                .map_err(|e| BuildError::NoBuilder {
                    drv: self.store.print_path(&node.path),
                    source: Box::new(e),
                })?;
            let Slot::Remote(i) = slot else {
                let r = self.build_here(node, ctx);
                builders.release(slot);
                return r;
            };
            let uri = &builders.machines()[i].uri;
            ctx.log_line(&format!("building on {uri}"));
            let r = self.build_on(builders, i, node, ctx);
            builders.release(slot);
            match r {
                Ok(()) => return Ok(()),
                Err(Failure::Build(e)) => return Err(e),
                Err(Failure::Machine(why)) => {
                    ctx.log_line(&format!("{uri} failed, trying elsewhere: {why}"));
                    builders.set_down(i, why);
                }
            }
        }
    }

    fn build_on(
        &self,
        builders: &Builders,
        i: usize,
        node: &DrvNode,
        ctx: &JobContext<'_>,
    ) -> Result<(), Failure> {
        let store = self.store;
        let print = |p: &StorePath| store.print_path(p);
        let local = |what: &'static str| {
            let e = self.store_err(what, node);
            move |s| Failure::Build(e(s))
        };
        let cfg = self.sandbox.config();
        let connect_limit = [cfg.timeout, cfg.max_silent]
            .into_iter()
            .flatten()
            .fold(CONNECT_LIMIT, Duration::min);
        let mut session =
            builders
                .session(i, connect_limit, ctx.cancel())
                .map_err(|e| match e {
                    _ if ctx.cancel().is_cancelled() => {
                        Failure::Build(BuildError::Sandbox(SandboxError::Cancelled {
                            name: print(&node.path),
                        }))
                    }
                    e => Failure::Machine(e.to_string()),
                })?;
        // The limits the machine is told, kept here too: a machine may
        // ignore them, or stall.
        session.label = print(&node.path);
        session.watchdog.arm(
            self.sandbox.config().timeout,
            self.sandbox.config().max_silent,
            ctx.cancel().clone(),
        );
        let closure = store
            .closure(&node.inputs)
            .map_err(local("compute the input closure"))?;
        let printed: BTreeSet<String> = closure.iter().map(print).collect();
        let there = session
            .client
            .query_valid_paths(&printed, true, self.builders_use_substitutes)
            .map_err(|e| machine(e, &session))?;
        let mut missing = Vec::new();
        for p in &closure {
            if !there.contains(&print(p)) {
                missing.push(
                    store
                        .path_info(p)
                        .map_err(local("query an input"))?
                        .ok_or_else(|| {
                            Failure::Build(BuildError::InputNotRegistered {
                                drv: print(&node.path),
                                input: print(p),
                            })
                        })?,
                );
            }
        }
        if !missing.is_empty() {
            ctx.log_line(&format!(
                "copying {} paths to {}",
                missing.len(),
                builders.machines()[i].uri
            ));
        }
        for info in references_first(missing) {
            let real = store.real_path(&info.path);
            session
                .client
                .add_to_store_nar(&info, &print, |w| {
                    nar_fs::dump_path(&real, w)
                        .map(|_| ())
                        .map_err(io::Error::other)
                })
                .map_err(|e| machine(e, &session))?;
        }
        let mut basic = node.drv.clone();
        basic.input_drvs.clear();
        basic.input_srcs = printed;
        let secs = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_secs().max(1));
        let settings = BuildSettings {
            max_silent_time: secs(self.sandbox.config().max_silent),
            build_timeout: secs(self.sandbox.config().timeout),
            ..BuildSettings::default()
        };
        // Lines left from an earlier build of this session are not this one's.
        while session.lines.try_recv().is_ok() {}
        // The machine's output is this build's log here too (`b8g log`).
        let mut log = self.open_log(node).map_err(Failure::Build)?;
        let res = {
            let done = &AtomicBool::new(false);
            let lines = &mut session.lines;
            let client = &mut session.client;
            std::thread::scope(|s| {
                // The remote's stderr is the build's output: shown as it comes.
                s.spawn(move || {
                    let mut kept = 0u64;
                    let mut done_at = None;
                    loop {
                        // stderr and the result travel apart: after the
                        // result, lines still come until a quiet spell, for
                        // [`LOG_GRACE`] at most.
                        if done.load(Ordering::Relaxed) {
                            let at = *done_at.get_or_insert_with(std::time::Instant::now);
                            if at.elapsed() > LOG_GRACE {
                                return;
                            }
                        }
                        match lines.recv_timeout(Duration::from_millis(50)) {
                            Ok(line) if kept < MAX_REMOTE_LOG => {
                                kept += line.len() as u64 + 1;
                                let _ = writeln!(log, "{line}");
                                ctx.log_line(&line);
                                if kept >= MAX_REMOTE_LOG {
                                    let _ = writeln!(
                                        log,
                                        "(the rest of the machine's output is not kept)"
                                    );
                                }
                            }
                            Ok(_) => {}
                            Err(RecvTimeoutError::Timeout) if done.load(Ordering::Relaxed) => {
                                return
                            }
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                });
                let r = client.build_derivation(&print(&node.path), &basic, &settings);
                done.store(true, Ordering::Relaxed);
                r
            })
        }
        .map_err(|e| machine(e, &session))?;
        if !res.status.is_success() {
            builders.put_back(i, session);
            return Err(Failure::Build(BuildError::Remote {
                drv: print(&node.path),
                machine: builders.machines()[i].uri.clone(),
                status: format!("{:?}", res.status),
                message: shown_error(&res.error_msg),
            }));
        }
        self.fetch_outputs(&mut session, node, &closure)?;
        builders.put_back(i, session);
        Ok(())
    }

    /// Copies the outputs not valid here from the machine, checked.
    fn fetch_outputs(
        &self,
        session: &mut Session,
        node: &DrvNode,
        closure: &BTreeSet<StorePath>,
    ) -> Result<(), Failure> {
        let store = self.store;
        let print = |p: &StorePath| store.print_path(p);
        let local = |what: &'static str| {
            let e = self.store_err(what, node);
            move |s| Failure::Build(e(s))
        };
        let mut wanted = BTreeMap::new();
        for p in node.outputs.values() {
            if !store.is_valid(p).map_err(local("check an output"))? {
                wanted.insert(print(p), p.clone());
            }
        }
        let infos = session
            .client
            .query_path_infos(&wanted.keys().cloned().collect())
            .map_err(|e| machine(e, session))?;
        let allowed: BTreeSet<&StorePath> = closure.iter().chain(node.outputs.values()).collect();
        let candidates: BTreeSet<StorePath> = allowed.iter().map(|p| (*p).clone()).collect();
        let mut expected = Vec::new();
        for w in infos {
            let Some(path) = wanted.remove(&w.path) else {
                return Err(Failure::Machine(format!(
                    "sent {}, which is not an output of {}",
                    w.path,
                    print(&node.path)
                )));
            };
            let bad = |why: String| Failure::Machine(format!("output {}: {why}", w.path));
            let nar_hash = Hash::parse_prefixed(&w.nar_hash).map_err(|e| bad(e.to_string()))?;
            let mut references = BTreeSet::new();
            for r in &w.references {
                let r = store.parse_path(r).map_err(|e| bad(e.to_string()))?;
                if !allowed.contains(&r) {
                    return Err(bad(format!(
                        "refers to {}, which is neither an input nor an output",
                        print(&r)
                    )));
                }
                references.insert(r);
            }
            // What the derivation says, not what the machine says: a fixed
            // output must hash to the derivation's hash (the store checks the
            // content against it); an input-addressed one has no address.
            let ca = fixed_output_ca(node, &path).map_err(bad)?;
            expected.push(NarExpectation {
                path,
                nar_hash,
                nar_size: w.nar_size,
                references,
                deriver: Some(node.path.clone()),
                signatures: w.sigs.into_iter().collect(),
                ca,
            });
        }
        if let Some(lost) = wanted.keys().next() {
            return Err(Failure::Machine(format!(
                "built {} but does not have output {lost}",
                print(&node.path)
            )));
        }
        for e in outputs_in_order(expected).map_err(Failure::Machine)? {
            let shown = print(&e.path);
            let size = e.nar_size;
            let imported = session
                .client
                .dump_store_path(&shown, size, |r| store.import_nar_locked(r, e, &candidates))
                .map_err(|err| machine(err, session))?;
            match imported {
                Ok(_) => {}
                Err(err @ b8g_store::local::Error::Mismatch { .. })
                | Err(err @ b8g_store::local::Error::Refused { .. })
                | Err(err @ b8g_store::local::Error::Restore { .. }) => {
                    return Err(Failure::Machine(format!("sent a bad output: {err}")))
                }
                Err(err) => return Err(local("import an output")(err)),
            }
        }
        if node.from_store {
            let outs: Vec<(String, StorePath)> = node
                .outputs
                .iter()
                .map(|(n, p)| (n.clone(), p.clone()))
                .collect();
            store
                .set_derivation_outputs(&node.path, &outs)
                .map_err(local("record the derivation's outputs"))?;
        }
        Ok(())
    }
}

/// The content address a fixed output of `node` must have, from the
/// derivation's `outputHashAlgo`/`outputHash` (`r:sha256` + base16 there).
fn fixed_output_ca(node: &DrvNode, path: &StorePath) -> Result<Option<String>, String> {
    let Some(name) = node
        .outputs
        .iter()
        .find(|(_, p)| *p == path)
        .map(|(n, _)| n)
    else {
        return Ok(None);
    };
    let Some(decl) = node.drv.outputs.get(name).filter(|o| o.is_fixed()) else {
        return Ok(None);
    };
    let (method, algo) = match decl.hash_algo.strip_prefix("r:") {
        Some(a) => (FileIngestionMethod::Recursive, a),
        None => (FileIngestionMethod::Flat, decl.hash_algo.as_str()),
    };
    let algo = algo
        .parse()
        .map_err(|e| format!("the derivation's hash algorithm {algo:?}: {e}"))?;
    let hash = Hash::parse_any(&decl.hash, Some(algo))
        .map_err(|e| format!("the derivation's output hash: {e}"))?;
    Ok(Some(ContentAddress::Fixed(method, hash).render()))
}

/// The outputs to import, each after the outputs it refers to; a cycle
/// between outputs is the machine's error (Nix forbids them).
fn outputs_in_order(mut left: Vec<NarExpectation>) -> Result<Vec<NarExpectation>, String> {
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let pending: BTreeSet<StorePath> = left.iter().map(|e| e.path.clone()).collect();
        let ready = left
            .iter()
            .position(|e| {
                e.references
                    .iter()
                    .all(|r| *r == e.path || !pending.contains(r))
            })
            .ok_or_else(|| "sent outputs that refer to each other in a cycle".to_owned())?;
        out.push(left.remove(ready));
    }
    Ok(out)
}

/// Orders path infos so that each comes after those of its references.
fn references_first(infos: Vec<PathInfo>) -> Vec<PathInfo> {
    let index: BTreeMap<StorePath, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, p)| (p.path.clone(), i))
        .collect();
    let mut done = vec![false; infos.len()];
    let mut order = Vec::with_capacity(infos.len());
    fn visit(
        i: usize,
        infos: &[PathInfo],
        index: &BTreeMap<StorePath, usize>,
        done: &mut [bool],
        order: &mut Vec<usize>,
    ) {
        // Iterative, for deep chains: (node, next reference to look at).
        let mut stack = vec![(i, 0usize)];
        done[i] = true;
        while let Some((n, k)) = stack.pop() {
            let refs: Vec<&StorePath> = infos[n].references.iter().collect();
            if let Some(r) = refs.get(k) {
                stack.push((n, k + 1));
                if let Some(&j) = index.get(*r) {
                    if !done[j] {
                        done[j] = true;
                        stack.push((j, 0));
                    }
                }
            } else {
                order.push(n);
            }
        }
    }
    for i in 0..infos.len() {
        if !done[i] {
            visit(i, &infos, &index, &mut done, &mut order);
        }
    }
    let mut slots: Vec<Option<PathInfo>> = infos.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use b8g_store::local::LocalStore;

    /// A fixed output must carry the derivation's hash as its content
    /// address, whatever the machine says; outputs come after the outputs
    /// they refer to, and a cycle between them is refused.
    #[test]
    fn fixed_outputs_get_the_derivations_address_and_outputs_an_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&b8g_store::local::StoreConfig {
            root: Some(dir.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        let p = |s: &str| store.parse_path(s).unwrap();
        let out = p("/b8g/store/00000000000000000000000000000000-src");
        let mut drv = b8g_store::format::derivation::Derivation::default();
        drv.outputs.insert(
            "out".into(),
            b8g_store::format::derivation::Output {
                path: store.print_path(&out),
                hash_algo: "r:sha256".into(),
                hash: "ab".repeat(32),
            },
        );
        let node = DrvNode {
            path: p("/b8g/store/11111111111111111111111111111111-src.drv"),
            drv,
            outputs: [("out".to_owned(), out.clone())].into(),
            inputs: BTreeSet::new(),
            from_store: true,
        };
        let ca = fixed_output_ca(&node, &out).unwrap().unwrap();
        assert!(ca.starts_with("fixed:r:sha256:"), "{ca}");
        let other = p("/b8g/store/22222222222222222222222222222222-x");
        assert_eq!(fixed_output_ca(&node, &other).unwrap(), None);

        let exp = |path: &StorePath, refs: &[&StorePath]| NarExpectation {
            path: path.clone(),
            nar_hash: Hash::parse_any(
                &"00".repeat(32),
                Some(b8g_store::format::hash::HashAlgo::Sha256),
            )
            .unwrap(),
            nar_size: 1,
            references: refs.iter().map(|r| (*r).clone()).collect(),
            deriver: None,
            signatures: Vec::new(),
            ca: None,
        };
        let (a, b, c) = (
            p("/b8g/store/33333333333333333333333333333333-out"),
            p("/b8g/store/44444444444444444444444444444444-lib"),
            p("/b8g/store/55555555555555555555555555555555-dev"),
        );
        let order: Vec<StorePath> =
            outputs_in_order(vec![exp(&a, &[&b, &a]), exp(&c, &[&a]), exp(&b, &[])])
                .unwrap()
                .into_iter()
                .map(|e| e.path)
                .collect();
        assert_eq!(order, [b.clone(), a.clone(), c.clone()]);
        assert!(outputs_in_order(vec![exp(&a, &[&b]), exp(&b, &[&a])]).is_err());
    }

    #[test]
    fn references_come_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&b8g_store::local::StoreConfig {
            root: Some(dir.path().to_owned()),
            ..Default::default()
        })
        .unwrap();
        let a = store.add_text("a", b"a", &[]).unwrap();
        let b = store
            .add_text(
                "b",
                store.print_path(&a).as_bytes(),
                std::slice::from_ref(&a),
            )
            .unwrap();
        let text = format!("{}{}", store.print_path(&a), store.print_path(&b));
        let c = store
            .add_text("c", text.as_bytes(), &[a.clone(), b.clone()])
            .unwrap();
        let infos: Vec<PathInfo> = [&c, &b, &a]
            .iter()
            .map(|p| store.path_info(p).unwrap().unwrap())
            .collect();
        let order: Vec<StorePath> = references_first(infos)
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(order, [a, b, c]);
    }
}
