use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;

use super::client::{ClientError, ServeClient};
use super::server::{serve, NoBuilds, ServeError, ServeOptions};
use super::*;
use crate::local::{LocalStore, StoreConfig};

fn store(dir: &std::path::Path) -> LocalStore {
    LocalStore::open(&StoreConfig {
        root: Some(dir.to_owned()),
        ..Default::default()
    })
    .expect("store")
}

/// Runs a server on `server_store` in a thread; returns a connected client
/// and the thread's handle.
fn session<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    server_store: &'s LocalStore,
    write: bool,
) -> (
    ServeClient<UnixStream, UnixStream>,
    std::thread::ScopedJoinHandle<'s, Result<(), ServeError>>,
) {
    let (ours, theirs) = UnixStream::pair().expect("pair");
    let handle = scope.spawn(move || {
        let mut input = theirs.try_clone().expect("clone");
        let mut output = theirs;
        serve(
            server_store,
            &mut input,
            &mut output,
            ServeOptions { write },
            &NoBuilds,
        )
    });
    let client = ServeClient::connect(ours.try_clone().expect("clone"), ours).expect("handshake");
    (client, handle)
}

fn nar_of(store: &LocalStore, p: &crate::format::store_path::StorePath) -> Vec<u8> {
    crate::nar_fs::dump_path(&store.real_path(p), Vec::new()).expect("dump")
}

/// A closure copied path by path with `AddToStoreNar`, then read back with
/// every query: what `nix copy --to ssh://` and a remote build do.
#[test]
fn a_closure_copies_to_the_server_and_reads_back() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let local = store(a.path());
    let remote = store(b.path());
    let dep = local.add_text("dep", b"x", &[]).unwrap();
    let top = local
        .add_text(
            "top",
            local.print_path(&dep).as_bytes(),
            std::slice::from_ref(&dep),
        )
        .unwrap();
    std::thread::scope(|s| {
        let (mut c, server) = session(s, &remote, true);
        assert_eq!(c.version(), PROTOCOL_VERSION);
        let both: BTreeSet<String> = [&dep, &top].iter().map(|p| local.print_path(p)).collect();
        assert!(c.query_valid_paths(&both, false, false).unwrap().is_empty());
        for p in [&dep, &top] {
            let info = local.path_info(p).unwrap().unwrap();
            let nar = nar_of(&local, p);
            c.add_to_store_nar(&info, &|p| local.print_path(p), |w| w.write_all(&nar))
                .unwrap();
        }
        assert_eq!(c.query_valid_paths(&both, true, false).unwrap(), both);
        // Sending a valid path again is accepted and its NAR skipped.
        let info = local.path_info(&dep).unwrap().unwrap();
        c.add_to_store_nar(&info, &|p| local.print_path(p), |w| {
            w.write_all(&nar_of(&local, &dep))
        })
        .unwrap();
        let infos = c
            .query_path_infos(&[local.print_path(&top)].into_iter().collect())
            .unwrap();
        assert_eq!(infos.len(), 1);
        let want = local.path_info(&top).unwrap().unwrap();
        assert_eq!(
            infos[0].nar_hash,
            want.nar_hash.to_typed(crate::format::hash::Encoding::Nix32)
        );
        assert_eq!(infos[0].nar_size, want.nar_size);
        assert_eq!(
            infos[0].references,
            [local.print_path(&dep)].into_iter().collect()
        );
        assert!(infos[0].ca.starts_with("text:sha256:"), "{}", infos[0].ca);
        let closure = c
            .query_closure(&[local.print_path(&top)].into_iter().collect(), false)
            .unwrap();
        assert_eq!(closure, both);
        let nar = c
            .dump_store_path(&local.print_path(&top), infos[0].nar_size, |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map(|_| v)
            })
            .unwrap()
            .unwrap();
        assert_eq!(nar, nar_of(&local, &top));
        drop(c);
        server.join().unwrap().expect("a clean end");
    });
}

/// A NAR that does not match its declared hash is refused, nothing is
/// registered, and writes without `--write` end the session.
#[test]
fn tampered_nars_and_writes_without_permission_are_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let local = store(a.path());
    let remote = store(b.path());
    let p = local.add_text("p", b"honest", &[]).unwrap();
    let mut info = local.path_info(&p).unwrap().unwrap();
    let other = local.add_text("q", b"forged", &[]).unwrap();
    let forged = nar_of(&local, &other);
    info.nar_size = forged.len() as u64;
    std::thread::scope(|s| {
        let (mut c, server) = session(s, &remote, true);
        let err = c
            .add_to_store_nar(&info, &|p| local.print_path(p), |w| w.write_all(&forged))
            .unwrap_err();
        assert!(matches!(err, ClientError::Wire(_)), "{err}");
        let ended = server.join().unwrap().unwrap_err();
        assert!(ended.to_string().contains("hash"), "{ended}");
    });
    assert!(!remote.is_valid(&p).unwrap());
    std::thread::scope(|s| {
        let (mut c, server) = session(s, &remote, false);
        let info = local.path_info(&p).unwrap().unwrap();
        let _ = c.add_to_store_nar(&info, &|p| local.print_path(p), |w| {
            w.write_all(&nar_of(&local, &p))
        });
        let ended = server.join().unwrap().unwrap_err();
        assert!(matches!(ended, ServeError::NotAllowed(_)), "{ended}");
    });
    assert!(!remote.is_valid(&p).unwrap());
}

#[test]
fn derivations_and_build_results_round_trip() {
    let mut drv = Derivation::default();
    drv.outputs.insert(
        "out".into(),
        Output {
            path: "/nix/store/00000000000000000000000000000000-x".into(),
            hash_algo: "r:sha256".into(),
            hash: "ab".repeat(32),
        },
    );
    drv.input_srcs
        .insert("/nix/store/11111111111111111111111111111111-src".into());
    drv.system = "x86_64-linux".into();
    drv.builder = "/bin/sh".into();
    drv.args = vec!["-c".into(), "echo".into()];
    drv.env.insert("out".into(), "/nix/store/…-x".into());
    let mut v = Vec::new();
    write_derivation(&mut v, &drv).unwrap();
    assert_eq!(read_derivation(&mut &v[..]).unwrap(), drv);

    let mut res = BuildResult::failure(BuildStatus::TimedOut, "too slow");
    res.start_time = 5;
    res.stop_time = 9;
    res.built_outputs
        .insert("sha256:aa!out".into(), "{}".into());
    for peer in [0x200, 0x203, 0x206, PROTOCOL_VERSION] {
        let mut v = Vec::new();
        res.write(&mut v, peer).unwrap();
        let back = BuildResult::read(&mut &v[..], peer).unwrap();
        assert_eq!(back.status, BuildStatus::TimedOut);
        assert_eq!(back.error_msg, "too slow");
        assert_eq!(back.stop_time, if peer >= 0x203 { 9 } else { 0 });
        assert_eq!(back.built_outputs.len(), usize::from(peer >= 0x206));
    }
    let settings = BuildSettings {
        max_silent_time: 1,
        build_timeout: 2,
        max_log_size: 3,
        build_repeat: 4,
        enforce_determinism: true,
        keep_failed: true,
    };
    let mut v = Vec::new();
    settings.write(&mut v, PROTOCOL_VERSION).unwrap();
    // Nix 2.8's client writes exactly these six words for a 2.7 server.
    assert_eq!(v.len(), 6 * 8);
    assert_eq!(
        BuildSettings::read(&mut &v[..], PROTOCOL_VERSION).unwrap(),
        settings
    );
}

/// A NAR that matches its declared hash but not its declared content
/// address (the path of other bytes), or that carries a signature with a
/// newline, is refused, nothing registered.
#[test]
fn content_addresses_and_signatures_are_checked_on_import() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let local = store(a.path());
    let remote = store(b.path());
    let honest = local.add_text("p", b"honest", &[]).unwrap();
    let forged = local.add_text("q", b"forged", &[]).unwrap();
    let mut info = local.path_info(&honest).unwrap().unwrap();
    let forged_info = local.path_info(&forged).unwrap().unwrap();
    // The honest path and CA, the forged bytes with their own NAR hash.
    info.nar_hash = forged_info.nar_hash;
    info.nar_size = forged_info.nar_size;
    let nar = nar_of(&local, &forged);
    std::thread::scope(|s| {
        let (mut c, server) = session(s, &remote, true);
        let _ = c.add_to_store_nar(&info, &|p| local.print_path(p), |w| w.write_all(&nar));
        let ended = server.join().unwrap().unwrap_err();
        assert!(ended.to_string().contains("content address"), "{ended}");
    });
    assert!(!remote.is_valid(&honest).unwrap());
    let mut info = local.path_info(&honest).unwrap().unwrap();
    info.signatures = vec!["k:AAAA\nURL: nar/evil.nar".into()];
    let nar = nar_of(&local, &honest);
    std::thread::scope(|s| {
        let (mut c, server) = session(s, &remote, true);
        let _ = c.add_to_store_nar(&info, &|p| local.print_path(p), |w| w.write_all(&nar));
        let ended = server.join().unwrap().unwrap_err();
        assert!(ended.to_string().contains("malformed signature"), "{ended}");
    });
    assert!(!remote.is_valid(&honest).unwrap());
}
