//! Running a kernel and initramfs under qemu (x86_64, TCG), for tests, the demo
//! and generated `run-vm` scripts.
//!
//! The VM always ends by itself: `-no-reboot` turns the guest's reboot (and a
//! kernel panic with `panic=-1`) into qemu exiting, and every run has a timeout
//! after which qemu is killed. KVM is never requested.

use std::io::{self, BufRead, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why a VM run failed to happen (a VM that ran and printed something wrong is not an error here).
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("waiting for qemu failed: {0}")]
    Wait(#[source] io::Error),
    #[error("host port {addr}:{port} ({proto}) of virtualisation.forwardPorts is taken ({source}): another VM or a server on the host has it; pick another host.port")]
    PortTaken {
        proto: String,
        addr: String,
        port: u16,
        source: io::Error,
    },
    #[error("VM settings line {line}: {reason}: {text:?}")]
    Settings {
        line: usize,
        text: String,
        reason: &'static str,
    },
}

/// A host-to-guest port forward on qemu's user-mode network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// `tcp` or `udp`.
    pub proto: String,
    /// Host address qemu listens on.
    pub host_addr: String,
    pub host_port: u16,
    pub guest_port: u16,
}

impl Forward {
    /// A TCP forward from 127.0.0.1:`host_port` to the guest's `guest_port`.
    pub fn tcp(host_port: u16, guest_port: u16) -> Self {
        Forward {
            proto: "tcp".into(),
            host_addr: "127.0.0.1".into(),
            host_port,
            guest_port,
        }
    }
}

/// The VM settings of a system (`<vm>/vm-settings`, written by the
/// `virtualisation` module): one `key value...` line each —
/// `memory MIB`, `cores N`, `network on|off`, `forward PROTO HOSTADDR HOSTPORT GUESTPORT`,
/// `image erofs|ext4` (the root image's format, `system.image.format`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmSettings {
    pub memory_mb: Option<u32>,
    pub cores: Option<u32>,
    pub network: Option<bool>,
    pub forwards: Vec<Forward>,
    pub image_format: Option<super::image::Format>,
}

impl VmSettings {
    pub fn parse(text: &str) -> Result<Self, QemuError> {
        let mut s = VmSettings::default();
        for (i, raw) in text.lines().enumerate() {
            let bad = |reason| QemuError::Settings {
                line: i + 1,
                text: raw.to_string(),
                reason,
            };
            let words: Vec<&str> = raw.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                ["memory", n] => s.memory_mb = Some(n.parse().map_err(|_| bad("bad number"))?),
                ["cores", n] => s.cores = Some(n.parse().map_err(|_| bad("bad number"))?),
                ["network", "on"] => s.network = Some(true),
                ["network", "off"] => s.network = Some(false),
                ["image", f] => {
                    s.image_format = Some(f.parse().map_err(|_| bad("unknown image format"))?)
                }
                ["forward", proto @ ("tcp" | "udp"), addr, h, g] => s.forwards.push(Forward {
                    proto: proto.to_string(),
                    host_addr: addr.to_string(),
                    host_port: h.parse().map_err(|_| bad("bad port"))?,
                    guest_port: g.parse().map_err(|_| bad("bad port"))?,
                }),
                _ => return Err(bad("unknown setting")),
            }
        }
        Ok(s)
    }

    /// Applies the settings to a VM (unset ones leave it as it is).
    pub fn apply(&self, vm: &mut Vm) {
        if let Some(m) = self.memory_mb {
            vm.memory_mb = m;
        }
        if let Some(c) = self.cores {
            vm.cores = c;
        }
        if let Some(n) = self.network {
            vm.network = n;
        }
        vm.forwards.extend(self.forwards.iter().cloned());
    }
}

/// How to leave a VM whose console is on the terminal (`-serial mon:stdio`).
pub const QUIT_HINT: &str = "Ctrl-A X quits qemu, Ctrl-C goes to the guest";

/// A VM description: what to boot and with which devices.
#[derive(Debug, Clone)]
pub struct Vm {
    pub qemu: String,
    pub machine: String,
    pub memory_mb: u32,
    /// Virtual CPUs (`-smp`).
    pub cores: u32,
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Kernel command line words; `console=ttyS0` (first) and `panic=-1` (last) are always added.
    pub cmdline: Vec<String>,
    /// A virtio NIC on qemu's user-mode network (also added whenever there are forwards).
    pub network: bool,
    /// Host → guest port forwards on the user-mode network.
    pub forwards: Vec<Forward>,
    /// Extra qemu arguments, appended last.
    pub extra: Vec<String>,
}

impl Vm {
    pub fn new(kernel: impl Into<PathBuf>) -> Self {
        Vm {
            qemu: "qemu-system-x86_64".into(),
            machine: "pc".into(),
            memory_mb: 256,
            cores: 1,
            kernel: kernel.into(),
            initrd: None,
            cmdline: Vec::new(),
            network: false,
            forwards: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The qemu argument list (without the program name).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-M".into(),
            self.machine.clone(),
            // TCG only: KVM exists on these hosts but hangs.
            "-accel".into(),
            "tcg".into(),
            "-m".into(),
            format!("{}M", self.memory_mb),
            "-smp".into(),
            self.cores.max(1).to_string(),
            "-nodefaults".into(),
            "-display".into(),
            "none".into(),
            "-monitor".into(),
            "none".into(),
            // The console multiplexed with qemu's monitor: on a terminal, ^C goes to the
            // guest instead of killing qemu, and Ctrl-A X quits (Ctrl-A H lists the keys).
            "-serial".into(),
            "mon:stdio".into(),
            "-no-reboot".into(),
            "-kernel".into(),
            self.kernel.display().to_string(),
        ];
        if let Some(initrd) = &self.initrd {
            a.push("-initrd".into());
            a.push(initrd.display().to_string());
        }
        // panic=-1 last: it wins over a generation's own `panic=` (an installed
        // system reboots on panic for its loader; a VM run ends instead).
        let mut cmdline = vec!["console=ttyS0".to_string()];
        cmdline.extend(self.cmdline.iter().cloned());
        cmdline.push("panic=-1".to_string());
        a.push("-append".into());
        a.push(cmdline.join(" "));
        if self.network || !self.forwards.is_empty() {
            let fwd: String = self
                .forwards
                .iter()
                .map(|f| {
                    format!(
                        ",hostfwd={}:{}:{}-:{}",
                        f.proto, f.host_addr, f.host_port, f.guest_port
                    )
                })
                .collect();
            a.push("-netdev".into());
            a.push(format!("user,id=n0{fwd}"));
            a.push("-device".into());
            a.push("virtio-net-pci,netdev=n0".into());
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// A standalone shell script that boots this VM with the console on stdio.
    pub fn script(&self) -> String {
        let quoted: Vec<String> = self.args().iter().map(|a| shell_quote(a)).collect();
        format!("#!/bin/sh\n# Boots the VM under qemu (TCG); the serial console is on stdio ({QUIT_HINT}).\nexec {} {} \"$@\"\n", self.qemu, quoted.join(" "))
    }

    /// Boots the VM, collecting the console output, until qemu exits or `timeout` passes.
    /// When `marker` is given, the time from launch to the first console line
    /// containing it is recorded.
    pub fn run(&self, timeout: Duration, marker: Option<&str>) -> Result<RunResult, QemuError> {
        self.run_with(timeout, marker, AtMarker::Continue, &mut |_| {})
    }

    /// Boots the VM, handing each console line to `on_line` as it comes, and
    /// stops it (killing qemu) shortly after a line containing `marker` appears.
    pub fn run_until(
        &self,
        timeout: Duration,
        marker: &str,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<RunResult, QemuError> {
        self.run_with(timeout, Some(marker), AtMarker::Stop, on_line)
    }

    /// Boots the VM and, once a console line containing `marker` appears, types
    /// `input` on the serial console (again every few seconds, since the shell
    /// may not be reading yet), then waits for qemu to exit by itself. Used to
    /// power a system off cleanly from its console.
    pub fn run_until_then_type(
        &self,
        timeout: Duration,
        marker: &str,
        input: &str,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<RunResult, QemuError> {
        self.run_with(timeout, Some(marker), AtMarker::Type(input), on_line)
    }

    /// Boots the VM with the console on this process's stdio (a user at the
    /// console) until qemu exits or, when given, `timeout` passes. On timeout
    /// qemu gets SIGTERM first, so it restores a terminal it put in raw mode,
    /// and SIGKILL if it is still there [`STOP_GRACE`] later.
    pub fn run_interactive(&self, timeout: Option<Duration>) -> Result<InteractiveRun, QemuError> {
        self.check_forwards()?;
        let start = Instant::now();
        let mut child = dies_with_us(Command::new(&self.qemu).args(self.args()))
            .spawn()
            .map_err(|source| QemuError::Spawn {
                program: self.qemu.clone(),
                source,
            })?;
        let mut termed_at: Option<Instant> = None;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(QemuError::Wait)? {
                break status;
            }
            match termed_at {
                None if timeout.is_some_and(|t| start.elapsed() > t) => {
                    let pid = rustix::process::Pid::from_child(&child);
                    // Gone already: the next try_wait collects it.
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                    termed_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() > STOP_GRACE => {
                    let _ = child.kill();
                    break child.wait().map_err(QemuError::Wait)?;
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(InteractiveRun {
            status,
            timed_out: termed_at.is_some(),
            elapsed: start.elapsed(),
        })
    }

    /// Fails before qemu starts when a forwarded host port is taken (qemu would say
    /// only "Could not set up host forwarding rule").
    fn check_forwards(&self) -> Result<(), QemuError> {
        for f in &self.forwards {
            let at = (f.host_addr.as_str(), f.host_port);
            let taken = if f.proto == "udp" {
                std::net::UdpSocket::bind(at).err()
            } else {
                std::net::TcpListener::bind(at).err()
            };
            if let Some(source) = taken.filter(|e| e.kind() == io::ErrorKind::AddrInUse) {
                return Err(QemuError::PortTaken {
                    proto: f.proto.clone(),
                    addr: f.host_addr.clone(),
                    port: f.host_port,
                    source,
                });
            }
        }
        Ok(())
    }

    fn run_with(
        &self,
        timeout: Duration,
        marker: Option<&str>,
        at_marker: AtMarker<'_>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<RunResult, QemuError> {
        self.check_forwards()?;
        let start = Instant::now();
        let mut child = dies_with_us(Command::new(&self.qemu).args(self.args()))
            .stdin(if matches!(at_marker, AtMarker::Type(_)) {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| QemuError::Spawn {
                program: self.qemu.clone(),
                source,
            })?;
        let (tx, rx) = mpsc::channel::<(Instant, String)>();
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        let tx2 = tx.clone();
        let readers = [
            std::thread::spawn(move || forward_lines(stdout, tx)),
            std::thread::spawn(move || forward_lines(stderr, tx2)),
        ];
        let mut stdin = child.stdin.take();
        let mut typed_at: Option<Instant> = None;
        let mut output = String::new();
        let mut marker_at = None;
        let mut timed_out = false;
        // Takes the lines read so far: records the marker, passes them on, keeps them.
        let mut drain = |output: &mut String, marker_at: &mut Option<Duration>| {
            while let Ok((at, line)) = rx.try_recv() {
                if marker_at.is_none() && marker.is_some_and(|m| line.contains(m)) {
                    *marker_at = Some(at - start);
                }
                on_line(&line);
                output.push_str(&line);
                output.push('\n');
            }
        };
        let status = loop {
            drain(&mut output, &mut marker_at);
            if let Some(status) = child.try_wait().map_err(QemuError::Wait)? {
                break status;
            }
            // Half a second more output after the marker, then stop the VM.
            if matches!(at_marker, AtMarker::Stop)
                && marker_at.is_some_and(|m| start.elapsed() > m + Duration::from_millis(500))
            {
                let _ = child.kill();
                break child.wait().map_err(QemuError::Wait)?;
            }
            if let (AtMarker::Type(input), Some(_), Some(pipe)) =
                (&at_marker, marker_at, stdin.as_mut())
            {
                if typed_at.is_none_or(|t| t.elapsed() > Duration::from_secs(3)) {
                    // A failed write means qemu is going away; its exit is what counts.
                    let _ = pipe
                        .write_all(format!("{input}\n").as_bytes())
                        .and_then(|()| pipe.flush());
                    typed_at = Some(Instant::now());
                }
            }
            if start.elapsed() > timeout {
                timed_out = true;
                let _ = child.kill();
                break child.wait().map_err(QemuError::Wait)?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in readers {
            let _ = r.join();
        }
        drain(&mut output, &mut marker_at);
        Ok(RunResult {
            output,
            status,
            timed_out,
            elapsed: start.elapsed(),
            marker_at,
        })
    }
}

/// What [`Vm::run_with`] does once the marker shows.
enum AtMarker<'a> {
    /// Nothing: run until qemu exits or the timeout.
    Continue,
    /// Kill qemu half a second later.
    Stop,
    /// Type this line on the serial console and wait for qemu to exit.
    Type(&'a str),
}

/// Sends each line `r` yields, stamped with its arrival time (shared with the unikernel runner).
pub(crate) fn forward_lines(r: impl io::Read, tx: mpsc::Sender<(Instant, String)>) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        }
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// How long [`Vm::run_interactive`] waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How an interactive VM run ended.
#[derive(Debug)]
pub struct InteractiveRun {
    pub status: ExitStatus,
    /// True when the timeout stopped it.
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// What a VM run produced.
#[derive(Debug)]
pub struct RunResult {
    /// Console (serial) output and qemu's own messages, line by line.
    pub output: String,
    pub status: ExitStatus,
    /// True when qemu was killed because the timeout passed.
    pub timed_out: bool,
    pub elapsed: Duration,
    /// Launch-to-marker time, when a marker was asked for and seen.
    pub marker_at: Option<Duration>,
}

/// Has qemu get SIGTERM when the thread that started it ends, however it
/// ends: a b8g killed outright takes its VM (and the disk image only the VM
/// still holds open) with it. SIGTERM, so qemu restores a terminal it put in
/// raw mode. The thread that spawns qemu is the one that waits for it.
fn dies_with_us(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and makes
    // only prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
                .map_err(io::Error::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for qemu: a shell script that ignores its arguments.
    fn fake_qemu(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("qemu");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p.display().to_string()
    }

    /// Regression: `run-vm --timeout` without `--until` let the VM run on.
    #[test]
    fn an_interactive_run_stops_at_its_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut vm = Vm::new("/k");
        vm.qemu = fake_qemu(dir.path(), "exec sleep 600");
        let r = vm
            .run_interactive(Some(Duration::from_millis(300)))
            .expect("runs");
        assert!(r.timed_out && !r.status.success(), "{r:?}");
        // SIGTERM did it, well before the grace period ran out.
        assert!(r.elapsed < STOP_GRACE, "{r:?}");

        // A qemu that ignores SIGTERM is killed after the grace period.
        vm.qemu = fake_qemu(dir.path(), "trap '' TERM; while :; do sleep 0.1; done");
        let r = vm
            .run_interactive(Some(Duration::from_millis(100)))
            .expect("runs");
        assert!(r.timed_out && r.elapsed >= STOP_GRACE, "{r:?}");

        // One that ends by itself: its status, no timeout.
        vm.qemu = fake_qemu(dir.path(), "exit 3");
        let r = vm
            .run_interactive(Some(Duration::from_secs(60)))
            .expect("runs");
        assert_eq!((r.timed_out, r.status.code()), (false, Some(3)));
        let r = vm.run_interactive(None).expect("runs");
        assert_eq!(r.status.code(), Some(3));
    }

    #[test]
    fn a_taken_forwarded_port_is_named_before_qemu_starts() {
        let dir = tempfile::tempdir().unwrap();
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let mut vm = Vm::new("/k");
        vm.qemu = fake_qemu(dir.path(), "exit 0");
        vm.forwards.push(Forward::tcp(port, 22));
        let e = vm
            .run(Duration::from_secs(5), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("host port 127.0.0.1:{port} (tcp)"))
                && e.contains("pick another host.port"),
            "{e}"
        );
        drop(busy);
        // Once free, it runs. A child another test forks at this moment holds a
        // copy of the listener until it execs: a few tries.
        let mut r = vm.run(Duration::from_secs(5), None).map(|_| ());
        for _ in 0..50 {
            if r.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            r = vm.run(Duration::from_secs(5), None).map(|_| ());
        }
        assert!(r.is_ok(), "{:?}", r.err().map(|e| e.to_string()));
    }

    #[test]
    fn args_are_tcg_and_always_exit() {
        let mut vm = Vm::new("/k");
        vm.initrd = Some("/i".into());
        vm.cmdline.push("b8g.system=/x y".into());
        vm.forwards.push(Forward::tcp(8080, 80));
        let a = vm.args();
        assert!(a.windows(2).any(|w| w == ["-accel", "tcg"]));
        assert!(a.iter().any(|x| x == "-no-reboot"));
        // Regression (issue 21): with `-serial stdio` a ^C typed at run-vm killed qemu.
        assert!(a.windows(2).any(|w| w == ["-serial", "mon:stdio"]));
        assert!(vm.script().contains("Ctrl-A X quits"));
        assert!(!a.iter().any(|x| x.contains("kvm")));
        assert!(a.contains(&"console=ttyS0 b8g.system=/x y panic=-1".to_string()));
        assert!(a.contains(&"user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80".to_string()));
        assert!(vm
            .script()
            .contains("'console=ttyS0 b8g.system=/x y panic=-1'"));
    }

    #[test]
    fn settings_set_memory_cores_and_forwards() {
        let s = VmSettings::parse(
            "memory 768\ncores 2\nnetwork on\nforward tcp 127.0.0.1 8080 80\nforward udp 0.0.0.0 5353 53\n",
        )
        .unwrap();
        let mut vm = Vm::new("/k");
        s.apply(&mut vm);
        let a = vm.args();
        assert!(a.windows(2).any(|w| w == ["-m", "768M"]));
        assert!(a.windows(2).any(|w| w == ["-smp", "2"]));
        assert!(a.contains(
            &"user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-:53".to_string()
        ));
        assert!(a.contains(&"virtio-net-pci,netdev=n0".to_string()));
        for bad in [
            "memory lots",
            "forward sctp 1 2 3",
            "forward tcp 127.0.0.1 99999 80",
            "speed 9",
        ] {
            assert!(
                matches!(
                    VmSettings::parse(bad),
                    Err(QemuError::Settings { line: 1, .. })
                ),
                "{bad}"
            );
        }
        // Network on without forwards still gets a NIC; off and none gets none.
        let mut vm = Vm::new("/k");
        VmSettings::parse("network on").unwrap().apply(&mut vm);
        assert!(vm.args().contains(&"user,id=n0".to_string()));
        assert!(!Vm::new("/k").args().iter().any(|a| a.contains("netdev")));
    }
}
