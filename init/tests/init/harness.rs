//! Starting b8g-init in a namespace over a temporary root and talking to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const INIT: &str = env!("CARGO_BIN_EXE_b8g-init");
pub const CTL: &str = env!("CARGO_BIN_EXE_b8gctl");

pub struct System {
    pub root: tempfile::TempDir,
    child: Option<Child>,
}

impl System {
    /// A temporary root with the given unit files (name, text) in etc/systemd/system.
    pub fn new(units: &[(&str, &str)]) -> System {
        System::new_in(&std::env::temp_dir(), units)
    }

    /// As `new`, with the root under `parent`: PrivateTmp= (which DynamicUser= implies)
    /// hides /tmp from the service, so a root there would vanish for it.
    pub fn new_in(parent: &Path, units: &[(&str, &str)]) -> System {
        let root = tempfile::tempdir_in(parent).expect("tempdir");
        let dir = root.path().join("etc/systemd/system");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (n, t) in units {
            std::fs::write(
                dir.join(n),
                t.replace("@CTL@", CTL)
                    .replace("@ROOT@", &root.path().display().to_string()),
            )
            .expect("write unit");
        }
        System { root, child: None }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    pub fn write(&self, p: &str, text: &str) {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            path,
            text.replace("@CTL@", CTL)
                .replace("@ROOT@", &self.root.path().display().to_string()),
        )
        .expect("write");
    }

    pub fn boot(&mut self) {
        self.boot_with(&[]);
    }

    /// Boots with extra b8g-init arguments.
    pub fn boot_with(&mut self, extra: &[&str]) {
        self.spawn_init(&["--map-root-user"], &[INIT], extra);
        self.wait_for(|s| s.path("run/b8g/control").exists(), "control socket");
    }

    /// Boots in a user namespace that maps uids and gids 0..65536 to themselves, so
    /// services can run as `User=nobody` (65534). Needs root on the host (the test
    /// writes the maps itself: util-linux's `--map-users` wants `newuidmap`). The
    /// temporary root is made world-readable so unprivileged services reach the sockets.
    pub fn boot_with_users(&mut self) {
        assert!(
            is_root(),
            "the unprivileged-service tests need root on the host"
        );
        std::fs::set_permissions(
            self.root.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod root");
        // PID 1 of the namespace waits for its maps before it becomes b8g-init: only
        // an exec after the maps exist gives it root's capabilities in the namespace.
        self.spawn_init(
            &[],
            &[
                "/bin/sh",
                "-c",
                "while [ -z \"$(cat /proc/self/uid_map)\" ]; do sleep 0.01; done; exec \"$0\" \"$@\"",
                INIT,
            ],
            &[],
        );
        let unshare = self.child.as_ref().expect("spawned").id();
        let own_ns = std::fs::read_link("/proc/self/ns/user").expect("own user ns");
        self.wait_for(
            |_| std::fs::read_link(format!("/proc/{unshare}/ns/user")).is_ok_and(|ns| ns != own_ns),
            "the new user namespace",
        );
        for map in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{unshare}/{map}"), "0 0 65536\n")
                .unwrap_or_else(|e| panic!("writing {map}: {e}"));
        }
        self.wait_for(|s| s.path("run/b8g/control").exists(), "control socket");
    }

    fn spawn_init(&mut self, map: &[&str], program: &[&str], extra: &[&str]) {
        assert!(
            Path::new("/usr/bin/unshare").exists() || which("unshare"),
            "unshare (util-linux) is required for the init tests"
        );
        let out = std::fs::File::create(self.path("console.log")).expect("console");
        let child = Command::new("unshare")
            .arg("--user")
            .args(map)
            .args(["--mount", "--pid", "--net", "--fork"])
            .args(program)
            .arg("--root")
            .arg(self.root.path())
            .args([
                "--timeout-stop",
                "2s",
                "--kill-grace",
                "1s",
                "--timeout-start",
                "10s",
            ])
            .args(extra)
            .stdout(Stdio::from(out.try_clone().expect("dup")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("spawn unshare");
        self.child = Some(child);
    }

    pub fn wait_for(&self, f: impl Fn(&System) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}; console:\n{}", self.console());
    }

    /// Waits until `path` (under the root) holds a whole line and returns it
    /// trimmed: a shell's `echo $$ > f` creates the file before it writes.
    pub fn wait_for_line(&self, path: &str, what: &str) -> String {
        self.wait_for(
            |s| std::fs::read_to_string(s.path(path)).is_ok_and(|t| t.ends_with('\n')),
            what,
        );
        std::fs::read_to_string(self.path(path))
            .expect("the line just seen")
            .trim()
            .to_string()
    }

    pub fn wait_ready(&self) {
        self.wait_for(
            |s| s.console().contains("b8g: system ready in"),
            "system ready",
        );
    }

    pub fn console(&self) -> String {
        std::fs::read_to_string(self.path("console.log")).unwrap_or_default()
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(CTL)
            .arg("--socket")
            .arg(self.path("run/b8g/control"))
            .args(args)
            .output()
            .expect("run b8gctl")
    }

    /// Runs b8gctl under the name `systemctl` (a symlink in the root's `host-bin/`),
    /// as Debian's scripts call it, talking to this system's control socket.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        self.ctl_as("systemctl", args)
    }

    /// The same under the name `journalctl`.
    pub fn journalctl(&self, args: &[&str]) -> Output {
        self.ctl_as("journalctl", args)
    }

    fn ctl_as(&self, name: &str, args: &[&str]) -> Output {
        let link = self.path(&format!("host-bin/{name}"));
        if !link.exists() {
            std::fs::create_dir_all(self.path("host-bin")).expect("mkdir host-bin");
            std::os::unix::fs::symlink(CTL, &link).expect("symlink b8gctl");
        }
        Command::new(link)
            .env("B8G_CONTROL_SOCKET", self.path("run/b8g/control"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {name}: {e}"))
    }

    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "b8gctl {args:?} failed: {}{}\nconsole:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.console()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn status(&self, unit: &str) -> serde_json::Value {
        let s = self.ctl_ok(&["--json", "status", unit]);
        let v: serde_json::Value = serde_json::from_str(&s).expect("json");
        v[0].clone()
    }

    pub fn active(&self, unit: &str) -> String {
        self.status(unit)["active"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn wait_state(&self, unit: &str, state: &str) {
        self.wait_for(
            |s| s.active(unit) == state,
            &format!("{unit} to become {state}"),
        );
    }

    pub fn log(&self, unit: &str) -> String {
        self.ctl_ok(&["log", unit])
    }

    /// The host pid of b8g-init (the child of `unshare --fork`).
    pub fn init_pid(&self) -> i32 {
        let id = self.child.as_ref().expect("booted").id();
        let kids = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
            .expect("children of unshare");
        kids.split_whitespace()
            .next()
            .expect("b8g-init runs")
            .parse()
            .expect("pid")
    }

    /// Whether a process of the namespace (by its pid there) is alive and not a zombie,
    /// looked up in the namespace's own /proc through b8g-init's root.
    pub fn ns_pid_alive(&self, pid: &str) -> bool {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/root/proc/{pid}/stat", self.init_pid()))
                .unwrap_or_default();
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    }

    /// Sends a signal to b8g-init from outside its namespace.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a pid we read from /proc.
        assert_eq!(
            unsafe { libc::kill(self.init_pid(), sig) },
            0,
            "kill failed"
        );
    }

    /// Waits (up to 60 s) for the namespace to end by itself; returns `unshare`'s status.
    pub fn wait_ended(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        if let Some(c) = &mut self.child {
            while Instant::now() < deadline {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return status;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("b8g-init did not end; console:\n{}", self.console());
    }

    /// Powers off and waits for the namespace to end.
    pub fn poweroff(&mut self) {
        self.ctl_ok(&["poweroff"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        if let Some(c) = &mut self.child {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    self.child = None;
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("b8g-init did not power off; console:\n{}", self.console());
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Drop for System {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            // A failed test must not leave its namespace behind: killing `unshare` alone
            // orphans b8g-init, so end the namespace's PID 1 first (the kernel then ends
            // every process in it).
            let id = c.id();
            let kids = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
                .unwrap_or_default();
            for pid in kids
                .split_whitespace()
                .filter_map(|k| k.parse::<i32>().ok())
            {
                // SAFETY: kill on a child of our own `unshare`, read from /proc just now.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Milliseconds of the first log line of `unit` containing `needle`.
pub fn ms_of(log: &str, needle: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in log:\n{log}"));
    let ts = line
        .trim_start_matches('[')
        .split(']')
        .next()
        .expect("timestamp")
        .trim();
    let (s, ms) = ts.split_once('.').expect("dot");
    s.trim().parse::<u64>().expect("secs") * 1000 + ms.parse::<u64>().expect("ms")
}
