# The NAR hash of `cargo vendor --locked` of this workspace's Cargo.lock (see
# default.nix). A build after Cargo.lock changed fails with the new one.
"sha256-1dcWc9wW8Fy7uV+FsJM0DfgXyDsM0f48BWKJVcjCNWc="
