//! A qemu machine driven over its serial console, for the VM tests: wait for
//! console lines, run shell commands with their exit codes, wait for the end.

#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// One qemu run on a copy of the disk, driven over the serial console.
pub struct Machine {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Everything seen so far (for failure messages).
    pub log: String,
    /// How much of `log` waits have consumed.
    seen: usize,
}

impl Machine {
    /// Starts `cmd` (a qemu command line with `-serial stdio`) with the
    /// console on its stdin and stdout.
    pub fn start(mut cmd: Command) -> Machine {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start qemu-system-x86_64");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).split(b'\n') {
                let Ok(l) = l else { return };
                let s = String::from_utf8_lossy(&l)
                    .trim_end_matches('\r')
                    .to_string();
                if tx.send(s).is_err() {
                    return;
                }
            }
        });
        Machine {
            child,
            stdin,
            lines,
            log: String::new(),
            seen: 0,
        }
    }

    /// Waits for a console line containing `what`; returns it, or None when
    /// qemu ends or `secs` pass.
    pub fn wait_for(&mut self, what: &str, secs: u64) -> Option<String> {
        // Lines already read (while waiting for something else) count too, once.
        if let Some(pos) = self.log[self.seen..].find(what) {
            let at = self.seen + pos;
            let start = self.log[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let end = self.log[at..]
                .find('\n')
                .map(|i| at + i)
                .unwrap_or(self.log.len());
            self.seen = end;
            return Some(self.log[start..end].to_string());
        }
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    self.log.push_str(&l);
                    self.log.push('\n');
                    if l.contains(what) {
                        self.seen = self.log.len();
                        return Some(l);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }

    pub fn expect(&mut self, what: &str, secs: u64) -> String {
        match self.wait_for(what, secs) {
            Some(l) => l,
            None => panic!("{what:?} did not appear on the console:\n{}", self.log),
        }
    }

    pub fn send(&mut self, cmd: &str) {
        self.stdin.write_all(cmd.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Runs a shell command on the console; returns its output lines and exit code.
    pub fn run(&mut self, cmd: &str, secs: u64) -> (String, i32) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (b, e) = (format!("BEGIN-{n}-MARK"), format!("END-{n}-MARK"));
        // The markers are built by the shell, so the echoed command line does not match them.
        self.send(&format!(
            "echo BEGIN-{n}-''MARK; {cmd}; echo END-{n}-''MARK=$?"
        ));
        self.expect(&b, secs);
        let mut out = String::new();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    self.log.push_str(&l);
                    self.log.push('\n');
                    if let Some(code) = l.split(&format!("{e}=")).nth(1) {
                        self.seen = self.log.len();
                        return (out, code.trim().parse().unwrap_or(-1));
                    }
                    out.push_str(&l);
                    out.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("{cmd:?} did not finish:\n{}", self.log);
    }

    /// Waits for a login shell after boot.
    pub fn shell(&mut self) {
        if !self.log.contains("b8g: system ready in") {
            self.expect("b8g: system ready in", 240);
        }
        // The autologin shell: poke it until it answers.
        for _ in 0..30 {
            self.send("echo SHELL''-UP");
            if self.wait_for("SHELL-UP", 2).is_some() {
                return;
            }
        }
        panic!("no shell on the console:\n{}", self.log);
    }

    pub fn current_system(&mut self) -> String {
        let (out, _) = self.run("readlink /run/current-system", 30);
        out.lines()
            .find(|l| l.starts_with("/b8g/store/"))
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Waits for qemu to end (a reboot or power-off with -no-reboot).
    pub fn ended(&mut self, secs: u64) -> bool {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            while let Ok(l) = self.lines.try_recv() {
                self.log.push_str(&l);
                self.log.push('\n');
            }
            if self.child.try_wait().unwrap().is_some() {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                    self.log.push_str(&l);
                    self.log.push('\n');
                }
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
            self.log.push_str(&l);
            self.log.push('\n');
        }
        std::mem::take(&mut self.log)
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
