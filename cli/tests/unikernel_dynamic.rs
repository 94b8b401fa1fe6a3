//! A dynamically linked application as a unikernel (issue 9): Debian's nginx laid
//! out in the store (`pkgs.nginx`: store interpreter and RUNPATH) runs as the
//! only process of the VM. The image must carry its whole store closure — glibc's
//! loader and the libraries it links — found by the `b8g-unikernel` builder;
//! nginx answers curl through a forwarded port. The kernel is the image's own
//! minimal kernel (built from source with virtio-net), built first by
//! `b8g-build -A kernel` with every core.
//!
//! Slow (it fetches and lays out nginx and its libraries): runs with
//! `cargo xtask test --full` (ignored by default). Needs B8G_INIT_BIN, qemu, curl
//! and apt package lists.

mod unikernel_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const NGINX_CONF: &str = "daemon off;\nmaster_process off;\nworker_processes 1;\npid /tmp/nginx.pid;\nerror_log stderr;\nevents { worker_connections 64; }\nhttp {\n  access_log /proc/self/fd/2;\n  client_body_temp_path /tmp/body;\n  proxy_temp_path /tmp/proxy;\n  fastcgi_temp_path /tmp/fastcgi;\n  uwsgi_temp_path /tmp/uwsgi;\n  scgi_temp_path /tmp/scgi;\n  server { listen 80; root /www; }\n}\n";

#[test]
#[ignore = "slow: fetches nginx and its libraries; cargo xtask test --full runs it"]
fn dynamic_nginx_unikernel_answers_curl() {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-unikernel-shim (cargo xtask test does)");
    for tool in ["qemu-system-x86_64", "curl"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(found, "{tool} is needed for this test and is not installed");
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nix_str = |s: &str| {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
                .replace('\n', "\\n")
        )
    };
    let file = root.path().join("nginx.nix");
    std::fs::write(
        &file,
        format!(
            "let pkgs = import {ws}/recipes/pkgs {{ b8gBin = /. + builtins.getEnv \"B8G_INIT_BIN\"; }}; in\n\
             import {ws}/recipes/unikernel {{ inherit pkgs; }} {{\n  \
             name = \"unikernel-nginx\";\n  memory = \"256M\";\n  app = \"${{pkgs.nginx}}/sbin/nginx\";\n  \
             args = [ \"-p\" \"/tmp\" \"-e\" \"stderr\" \"-c\" \"/etc/nginx.conf\" ];\n  \
             files = {{\n    \"/etc/nginx.conf\" = {conf};\n    \
             \"/etc/passwd\" = \"root:x:0:0:root:/:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/false\\n\";\n    \
             \"/etc/group\" = \"root:x:0:\\nnogroup:x:65534:\\n\";\n    \
             \"/www/index.html\" = \"hello from nginx in a b8g unikernel\\n\";\n  }};\n  \
             network.forwards = [ {{ host = {port}; guest = 80; }} ];\n}}\n",
            ws = workspace.display(),
            conf = nix_str(NGINX_CONF),
        ),
    )
    .unwrap();
    // The kernel first, with every core (`b8g run-vm` builds with one).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let k = Command::new(env!("CARGO_BIN_EXE_b8g-build"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root.path())
        .args(["--cores", &cores.to_string(), "-A", "kernel", "-o"])
        .arg(root.path().join("kernel"))
        .env("B8G_INIT_BIN", &bin)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        k.status.success(),
        "building the kernel: {}",
        String::from_utf8_lossy(&k.stderr)
    );
    let (body, out) = unikernel_support::run_vm_and_curl(
        root.path(),
        &workspace,
        &bin,
        &file,
        port,
        &format!("GET {}", unikernel_support::DONE_PATH),
        Duration::from_secs(900),
    );
    let show = format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        body, "hello from nginx in a b8g unikernel\n",
        "curl got no answer\n{show}"
    );
    assert!(out.status.success(), "{show}");
}
