//! Links `b8g` with packed relative relocations (DT_RELR) where it is a
//! dynamic glibc executable.
//!
//! `b8g` is a position-independent executable with about 30 000 relative
//! relocations: as RELA entries they are 740 kB that the dynamic loader reads at
//! every start, and with the pages it touches around them `b8g eval` of
//! `images/minimal.nix` peaked 2 MB higher (23.3 against 21.3 MB, three runs
//! each). RELR keeps the executable position-independent (so ASLR stays) in a
//! few kB. glibc 2.36 and binutils 2.38 read and write it; Debian 12 has 2.36
//! and 2.40. The static builds (`+crt-static`, b8g inside a system) are left
//! as they are.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let features = var("CARGO_CFG_TARGET_FEATURE");
    let dynamic_glibc = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && !features.split(',').any(|f| f == "crt-static");
    if dynamic_glibc {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
