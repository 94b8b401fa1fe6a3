# Builds b8g's static binaries from $src with the crates in $vendor, offline.
# Inputs (environment): src, vendor, rust (rustc and cargo joined), cc (the
# seed C toolchain), busybox.
set -e
export PATH=$cc/bin:$busybox/bin:$rust/bin
export HOME=$NIX_BUILD_TOP CARGO_HOME=$NIX_BUILD_TOP/cargo-home
export CARGO_TARGET_DIR=$NIX_BUILD_TOP/target
# The C parts of -sys crates (zstd, xz, sqlite) through the seed compiler.
export CC=cc AR=ar
mkdir -p "$CARGO_HOME"
# rustc finds its standard library only under the joined sysroot.
cat > "$NIX_BUILD_TOP/rustc" <<WRAP
#!$busybox/bin/sh
exec $rust/bin/rustc --sysroot $rust "\$@"
WRAP
chmod +x "$NIX_BUILD_TOP/rustc"
export RUSTC=$NIX_BUILD_TOP/rustc
cat > "$CARGO_HOME/config.toml" <<CONF
[source.crates-io]
replace-with = "vendored-sources"
[source.vendored-sources]
directory = "$vendor"
[target.x86_64-unknown-linux-gnu]
linker = "$cc/bin/cc"
# Static (--target keeps build scripts and proc macros dynamic); the build
# directory's name out of the binaries.
rustflags = ["-C", "target-feature=+crt-static", "-C", "strip=symbols", "--remap-path-prefix", "$NIX_BUILD_TOP=/build"]
CONF
cp -r "$src" "$NIX_BUILD_TOP/src"
chmod -R u+w "$NIX_BUILD_TOP/src"
cd "$NIX_BUILD_TOP/src"
jobs=${NIX_BUILD_CORES:-1}
[ "$jobs" -gt 0 ] || jobs=1
# As cargo xtask builds them: b8g-init with its size-optimised profile, the rest as release.
cargo build --offline --locked -j "$jobs" --target x86_64-unknown-linux-gnu --profile init-static -p b8g-init
cargo build --offline --locked -j "$jobs" --target x86_64-unknown-linux-gnu --release -p b8g-unikernel-shim -p b8g-cli
mkdir -p "$out/bin"
t=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu
cp "$t/init-static/b8g-init" "$t/init-static/b8gctl" "$t/release/b8g-unikernel-shim" "$t/release/b8g" "$out/bin/"
