//! One serve-protocol session with a remote machine: `ssh HOST 'REMOTE-PROGRAM
//! --serve --write'`, its stdin and stdout carrying the protocol. The remote's
//! stderr is kept (its last lines) for error messages.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use b8g_store::serve::client::{ClientError, ServeClient};

use super::machines::Machine;
use super::watchdog::{ActivityReader, Watchdog};
use crate::sandbox::CancelToken;
use std::time::Duration;

/// The most of a remote's stderr kept for messages.
const STDERR_TAIL: usize = 4096;
/// Lines of the remote's stderr (its builds' output) waiting to be shown;
/// more are dropped rather than stall the remote.
const LINE_BACKLOG: usize = 4096;
/// The longest line passed on.
const MAX_LINE: usize = 4096;

/// A live session; the ssh process is killed when it is dropped.
pub struct Session {
    child: Child,
    /// The protocol client on the ssh process's pipes.
    pub client: ServeClient<ActivityReader<ChildStdout>, ChildStdin>,
    /// Local limits on the exchange (see [`super::watchdog`]).
    pub watchdog: Watchdog,
    /// What it is working on, for messages (the derivation).
    pub label: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The remote's stderr line by line: its builds' output.
    pub lines: Receiver<String>,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// ssh could not be started.
    #[error("cannot run ssh: {0}")]
    Spawn(#[source] std::io::Error),
    /// The greeting failed (login refused, no such program…).
    #[error("cannot connect to {uri}: {source}{}", stderr_note(stderr))]
    Connect {
        /// The machine.
        uri: String,
        /// The protocol error.
        source: ClientError,
        /// What the remote side printed.
        stderr: String,
    },
}

fn stderr_note(s: &str) -> String {
    if s.trim().is_empty() {
        return String::new();
    }
    // ssh's own advice names our temporary known-hosts file: say what to fix.
    let hint = if s.contains("Host key verification failed")
        || s.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        "\nthe machine's host key is not the one its machines entry pins (field 8, the base64 of \
         its public host key line)"
    } else {
        ""
    };
    format!("; the remote said: {}{hint}", s.trim())
}

/// Quotes `s` for the remote shell that runs ssh's command string.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The ssh command for `m`. `NIX_SSHOPTS` is honoured as Nix does
/// (whitespace-separated options); a pinned host key goes into a
/// known-hosts file of its own under `scratch`, checked strictly.
fn ssh_command(m: &Machine, index: usize, scratch: &Path) -> std::io::Result<Command> {
    let mut c = Command::new("ssh");
    c.args(["-x", "-a", "-T", "-o", "BatchMode=yes"]);
    // One connection per machine: the first session becomes the master,
    // the others (up to max-jobs at once) are channels on it. It outlives
    // idle spells by a minute and is told to exit when the run ends.
    c.args(["-o", "ControlMaster=auto", "-o"])
        .arg(format!(
            "ControlPath={}",
            control_path(scratch, index).display()
        ))
        .args(["-o", "ControlPersist=60"]);
    if let Ok(opts) = std::env::var("NIX_SSHOPTS") {
        c.args(opts.split_whitespace());
    }
    if let Some(key) = &m.ssh_key {
        c.arg("-i").arg(key);
    }
    if let Some(host_key) = &m.host_key {
        // An alias keys the entry whatever the port.
        let alias = format!("b8g-builder-{index}");
        let file = scratch.join(format!("known_hosts-{index}"));
        std::fs::write(&file, format!("{alias} {host_key}\n"))?;
        c.arg("-o")
            .arg(format!("UserKnownHostsFile={}", file.display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("HostKeyAlias={alias}"));
    }
    let mut remote = format!("{} --serve --write", m.remote_program);
    if let Some(store) = &m.remote_store {
        remote.push_str(" --store ");
        remote.push_str(&shell_quote(store));
    }
    c.arg("--").arg(destination(&m.host)).arg(remote);
    Ok(c)
}

/// ssh's destination for `host`: `[user@]host`, or with a port
/// (`host:2222`, `[::1]:2222`) ssh's own `ssh://` form, which takes one.
fn destination(host: &str) -> String {
    let after_user = host.rsplit('@').next().unwrap_or(host);
    let has_port = match after_user.rsplit_once(':') {
        Some((h, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || (h.starts_with('[') && h.ends_with(']')))
        }
        None => false,
    };
    if has_port {
        format!("ssh://{host}")
    } else {
        host.to_owned()
    }
}

/// The control socket of machine `index`'s master connection.
pub fn control_path(scratch: &Path, index: usize) -> std::path::PathBuf {
    scratch.join(format!("cm-{index}"))
}

/// Asks machine `m`'s master connection, if there is one, to exit.
pub fn close_master(m: &Machine, index: usize, scratch: &Path) {
    if !control_path(scratch, index).exists() {
        return;
    }
    let _ = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!(
            "ControlPath={}",
            control_path(scratch, index).display()
        ))
        .args(["-O", "exit", "--"])
        .arg(destination(&m.host))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Session {
    /// Opens a session with machine `index` of the set.
    pub fn open(
        m: &Machine,
        index: usize,
        scratch: &Path,
        connect_limit: Duration,
        cancel: &CancelToken,
    ) -> Result<Session, SessionError> {
        let mut child = ssh_command(m, index, scratch)
            .map_err(SessionError::Spawn)?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(SessionError::Spawn)?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (line_tx, lines) = sync_channel(LINE_BACKLOG);
        let (watchdog, activity) = Watchdog::start(child.id());
        // A machine that never answers the greeting (ssh stuck before the
        // banner, a remote waiting on a lock) must not hold the run.
        watchdog.arm(Some(connect_limit), None, cancel.clone());
        if let Some(mut pipe) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            let activity = activity.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut line = Vec::new();
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    activity.touch();
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    t.extend_from_slice(&buf[..n]);
                    if t.len() > STDERR_TAIL {
                        let cut = t.len() - STDERR_TAIL;
                        t.drain(..cut);
                    }
                    drop(t);
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            let text = String::from_utf8_lossy(&line).into_owned();
                            // Full: the line is dropped, the remote never waits on us.
                            let _ = line_tx.try_send(text);
                            line.clear();
                        } else if line.len() < MAX_LINE {
                            line.push(b);
                        }
                    }
                }
            });
        }
        let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
            unreachable!("both pipes were asked for");
        };
        match ServeClient::connect(ActivityReader::new(stdout, activity), stdin) {
            Ok(client) => Ok(Session {
                child,
                client,
                watchdog,
                label: String::new(),
                stderr,
                lines,
            }),
            Err(source) => {
                watchdog.stop();
                let _ = child.kill();
                let _ = child.wait();
                // Give the stderr reader a moment to see the last words.
                std::thread::sleep(std::time::Duration::from_millis(50));
                let stderr =
                    String::from_utf8_lossy(&stderr.lock().unwrap_or_else(|e| e.into_inner()))
                        .into_owned();
                Err(SessionError::Connect {
                    uri: m.uri.clone(),
                    source,
                    stderr,
                })
            }
        }
    }

    /// The last of what the remote printed on stderr.
    pub fn stderr_tail(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.watchdog.stop();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_go_through_sshs_own_uri_form() {
        assert_eq!(destination("root@b1"), "root@b1");
        assert_eq!(destination("root@b1:2222"), "ssh://root@b1:2222");
        assert_eq!(destination("[::1]:22"), "ssh://[::1]:22");
        assert_eq!(destination("::1"), "::1");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
