//! Regression tests of attacks on output registration, each carried out for
//! real against a local store under a temporary root:
//! - a fixed-output build hands a writable descriptor of its output to a host
//!   process over an abstract Unix socket, which writes through it after the
//!   path is registered (the class of Nix's CVE-2024-27297);
//! - an output watched from the moment its final name appears must already
//!   be read-only and ours;
//! - a GC between planning and the build must not delete a build's inputs.
//!
//! Needs gcc with a static libc (Debian libc6-dev) and busybox-static.

mod realise_support;
mod sandbox_support;

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use b8g_builder::schedule::Progress;
use b8g_store::format::hash::HashAlgo;
use b8g_store::local::{GcOptions, GcReport, LocalStore, VerifyOptions};
use realise_support::World;

/// Adds a store path holding `bin/<name>` compiled from `source`.
fn add_c_program(w: &World, name: &str, source: &str) -> b8g_store::format::store_path::StorePath {
    let src = w.dir.path().join(format!("{name}-src"));
    std::fs::create_dir_all(src.join("bin")).expect("mkdir");
    sandbox_support::compile_static_c(source, &src.join("bin").join(name));
    w.store.add_recursive(&src, name).expect("add program")
}

/// Receives the descriptors a build sends on one connection, then acknowledges.
fn receive_fds(listener: UnixListener) -> Vec<OwnedFd> {
    let (conn, _) = listener.accept().expect("accept the build's connection");
    let mut byte = 0u8;
    let mut iov = libc::iovec {
        iov_base: (&mut byte as *mut u8).cast(),
        iov_len: 1,
    };
    let mut control = [0u64; 16];
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert_eq!(n, 1, "recvmsg: {}", std::io::Error::last_os_error());
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel just wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    std::io::Write::write_all(&mut &conn, b"k").expect("acknowledge");
    fds
}

#[test]
fn fixed_output_build_smuggling_a_writable_fd_cannot_change_the_registered_path() {
    let mut w = World::new();
    let fdsend = add_c_program(&w, "fdsend", include_str!("realise_support/fdsend.c"));
    w.extra_srcs.push(fdsend.clone());

    // What the build makes, hashed the way the derivation declares it.
    let model = w.dir.path().join("model");
    std::fs::create_dir(&model).expect("mkdir");
    std::fs::write(model.join("data"), "good\n").expect("write");
    let (nar_hash, _) =
        b8g_store::nar_fs::hash_path(&model, HashAlgo::Sha256).expect("hash the model");

    let name = format!("b8g-test-fdsend-{}", std::process::id());
    let listener = UnixListener::bind_addr(
        &SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address"),
    )
    .expect("listen on an abstract socket in the host's network namespace");
    let receiver = std::thread::spawn(move || receive_fds(listener));
    let script = format!("{}/bin/fdsend {name}", w.store.print_path(&fdsend));
    let (d, drv) = w.drv(
        "fetched-tree",
        &script,
        &["out"],
        &[],
        Some(("r:sha256", nar_hash.to_base16())),
    );
    w.realise(std::slice::from_ref(&d))
        .expect("the build succeeds");
    let fds = receiver.join().expect("receiver thread");
    assert_eq!(fds.len(), 2, "the build handed out a file and a directory");
    let out = w.out(&drv, "out");
    assert!(w.store.is_valid(&out).expect("query"));
    let real = w.store.real_path(&out);

    // Another path with the same file; optimise hard-links identical files.
    let twin = w.store.add_recursive(&model, "twin").expect("add twin");
    w.store.optimise().expect("optimise");

    // The host process now attacks through what it received.
    let (file, dir) = (&fds[0], &fds[1]);
    // SAFETY: writes from a static buffer through a descriptor we own.
    let n = unsafe { libc::pwrite(file.as_raw_fd(), b"EVIL!".as_ptr().cast(), 5, 0) };
    assert_eq!(
        n,
        5,
        "the handed-out descriptor is no longer writable, so this test shows nothing: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: plain syscalls on descriptors we own.
    unsafe {
        libc::fchmod(file.as_raw_fd(), 0o666);
        let planted = CString::new("planted").expect("name");
        let fd = libc::openat(
            dir.as_raw_fd(),
            planted.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        );
        if fd >= 0 {
            libc::close(fd);
        }
    }

    for p in [&real, &w.store.real_path(&twin)] {
        assert_eq!(
            std::fs::read_to_string(p.join("data")).expect("read"),
            "good\n",
            "{} was changed through the build's descriptor",
            p.display()
        );
        let mode = std::fs::metadata(p.join("data"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444, "{} mode changed", p.display());
        assert!(
            !p.join("planted").exists(),
            "a file was planted in {}",
            p.display()
        );
    }
    let report = w
        .store
        .verify(&VerifyOptions {
            check_contents: true,
            repair: false,
        })
        .expect("verify");
    assert!(report.problems.is_empty(), "verify: {:?}", report.problems);
}

/// Every entry under `p` that is writable or not owned by us.
fn violations(p: &Path, out: &mut Vec<String>) {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        out.push(format!("{} vanished", p.display()));
        return;
    };
    if m.file_type().is_symlink() {
        return;
    }
    // SAFETY: geteuid cannot fail.
    if m.uid() != unsafe { libc::geteuid() } {
        out.push(format!("{} owned by uid {}", p.display(), m.uid()));
    }
    if m.permissions().mode() & 0o222 != 0 {
        out.push(format!("{} mode {:o}", p.display(), m.permissions().mode()));
    }
    if m.is_dir() {
        if let Ok(entries) = std::fs::read_dir(p) {
            for e in entries.flatten() {
                violations(&e.path(), out);
            }
        }
    }
}

/// Watches `dir` until `name` appears in it, then reports what is wrong with
/// the tree at that moment (`None`: it never appeared before `stop`).
fn watch_for(dir: PathBuf, name: String, stop: Arc<AtomicBool>) -> Option<Vec<String>> {
    // SAFETY: plain syscalls; the results are checked.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    assert!(fd >= 0, "inotify_init1");
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let cdir = CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid descriptor and NUL-terminated path.
    let wd = unsafe {
        libc::inotify_add_watch(
            fd.as_raw_fd(),
            cdir.as_ptr(),
            libc::IN_MOVED_TO | libc::IN_CREATE,
        )
    };
    assert!(wd >= 0, "inotify_add_watch");
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 50) };
        // SAFETY: reads into our buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            continue;
        }
        let mut off = 0;
        while off < n as usize {
            // SAFETY: the kernel wrote whole events; read the header unaligned.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
            let raw = &buf[off + std::mem::size_of::<libc::inotify_event>()..][..ev.len as usize];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
            if raw[..end] == *name.as_bytes() {
                let mut bad = Vec::new();
                violations(&dir.join(&name), &mut bad);
                return Some(bad);
            }
            off += std::mem::size_of::<libc::inotify_event>() + ev.len as usize;
        }
    }
}

#[test]
fn outputs_are_read_only_and_ours_when_their_final_name_appears() {
    let mut w = World::new();
    // Many files: making them read-only one by one takes a while, so an
    // output renamed before that would be caught writable.
    let (d, drv) = w.drv(
        "many-files",
        "busybox mkdir -p $out/sub; cd $out; for i in $(busybox seq 1 3000); do echo $i > f$i; done; \
         echo x > sub/y; busybox chmod 777 sub/y",
        &["out"],
        &[],
        None,
    );
    let out = w.out(&drv, "out");
    let base = out.to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let dir = w.store.real_store_dir().to_owned();
        let stop = stop.clone();
        std::thread::spawn(move || watch_for(dir, base, stop))
    };
    // Let the watch be in place before the build.
    std::thread::sleep(Duration::from_millis(100));
    let r = w.realise(std::slice::from_ref(&d));
    stop.store(true, Ordering::SeqCst);
    r.expect("the build succeeds");
    let seen = watcher
        .join()
        .expect("watcher thread")
        .expect("the watcher saw the output appear");
    assert!(
        seen.is_empty(),
        "the output was visible at its final name before it was canonical: {:?}",
        &seen[..seen.len().min(5)]
    );
    assert!(w.store.is_valid(&out).expect("query"));
}

/// Runs a GC when the scheduler starts: after planning, before any build.
struct GcAtStart<'s> {
    store: &'s LocalStore,
    report: Mutex<Option<GcReport>>,
}

impl Progress for GcAtStart<'_> {
    fn start(&self, _total: usize) {
        let report = self.store.gc(&GcOptions::default()).expect("gc");
        *self.report.lock().expect("lock") = Some(report);
    }
}

#[test]
fn gc_between_planning_and_building_keeps_the_inputs() {
    let mut w = World::new();
    let (a, a_drv) = w.drv("input", "echo made-by-a > $out", &["out"], &[], None);
    let a_out = w.out(&a_drv, "out");
    let script = format!("busybox cat {} > $out", w.store.print_path(&a_out));
    let (b, b_drv) = w.drv("uses-input", &script, &["out"], &[(&a, &["out"])], None);
    w.realise(std::slice::from_ref(&a))
        .expect("build the input");
    let garbage = w
        .store
        .add_text("garbage", b"nobody refers to this", &[])
        .expect("add garbage");
    // A new process: nothing roots the input, its .drv or busybox any more.
    w.reopen();

    let gc = GcAtStart {
        store: &w.store,
        report: Mutex::new(None),
    };
    let r = w.realise_with(std::slice::from_ref(&b), &gc);
    let report = gc
        .report
        .lock()
        .expect("lock")
        .take()
        .expect("the GC ran between planning and building");
    assert!(
        report.deleted.contains(&w.store.print_path(&garbage)),
        "the GC did not collect an unrooted path: {:?}",
        report.deleted
    );
    let kept: BTreeSet<String> = [&a_out, &a, &b, &w.busybox]
        .iter()
        .map(|p| w.store.print_path(p))
        .collect();
    let lost: Vec<&String> = report
        .deleted
        .iter()
        .filter(|p| kept.contains(*p))
        .collect();
    assert!(
        lost.is_empty(),
        "the GC deleted what the build needs: {lost:?}"
    );
    r.expect("the build succeeds");
    let b_out = w.out(&b_drv, "out");
    assert_eq!(
        std::fs::read_to_string(w.store.real_path(&b_out)).expect("read"),
        "made-by-a\n"
    );
    assert!(w.store.is_valid(&a_out).expect("query"));
}

/// Writes `drv` as a `.drv` text file as it is, output paths and all (what a
/// hand-made `builtins.toFile "x.drv"` with a context amounts to).
fn add_raw_drv(
    w: &World,
    name: &str,
    drv: &b8g_store::format::derivation::Derivation,
) -> b8g_store::format::store_path::StorePath {
    let refs: Vec<_> = drv
        .input_srcs
        .iter()
        .map(|p| w.store.parse_path(p).expect("store path"))
        .collect();
    w.store
        .add_text(&format!("{name}.drv"), drv.to_aterm().as_bytes(), &refs)
        .expect("add drv")
}

#[test]
fn hand_written_drv_claiming_another_output_or_drv_path_is_refused() {
    let mut w = World::new();
    let (victim_drv, victim) = w.drv("victim", "echo honest > $out", &["out"], &[], None);
    let victim_out = victim.outputs["out"].path.clone();
    // The path of a .drv an honest evaluation will write later (made in
    // another store: this one has never seen it).
    let mut other = World::new();
    let (future_drv, _) = other.drv("future", "echo later > $out", &["out"], &[], None);
    let future_drv = other.store.print_path(&future_drv);

    for (case, claimed, env) in [
        (
            "another derivation's output",
            victim_out.clone(),
            victim_out.clone(),
        ),
        ("a future .drv", future_drv.clone(), future_drv.clone()),
        // Output path right, but the builder told to write elsewhere.
        ("an output variable", String::new(), victim_out.clone()),
    ] {
        let (_, mut evil) = w.drv(
            &format!("evil-{}", case.len()),
            "echo POISONED > $out",
            &["out"],
            &[],
            None,
        );
        if !claimed.is_empty() {
            evil.outputs.get_mut("out").expect("out").path = claimed.clone();
        }
        evil.env.insert("out".into(), env);
        let evil_drv = add_raw_drv(&w, &format!("evil-raw-{}", case.len()), &evil);
        let err = w
            .realise(std::slice::from_ref(&evil_drv))
            .expect_err(case)
            .to_string();
        assert!(
            err.contains("the derivation's contents give") || err.contains("not the output path"),
            "{case}: {err}"
        );
        for p in [&victim_out, &future_drv] {
            let p = w.store.parse_path(p).expect("path");
            assert!(
                !w.store.is_valid(&p).expect("query"),
                "{case}: {p:?} registered"
            );
            assert!(!w.store.real_path(&p).exists(), "{case}: {p:?} written");
        }
    }
    // The honest build still builds its own bytes.
    w.realise(std::slice::from_ref(&victim_drv))
        .expect("victim builds");
    let out = w.store.parse_path(&victim_out).expect("path");
    assert_eq!(
        std::fs::read_to_string(w.store.real_path(&out)).expect("read"),
        "honest\n"
    );
}
