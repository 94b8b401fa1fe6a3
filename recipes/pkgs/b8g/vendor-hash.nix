# The NAR hash of `cargo vendor --locked` of this workspace's Cargo.lock (see
# default.nix). A build after Cargo.lock changed fails with the new one.
"sha256-cFfqIKwC71hiRntFIrIlpxm2w06pfePqwQhnrtDBCAQ="
