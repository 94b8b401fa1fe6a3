//! Building an image file such as `images/unikernel-hello.nix`: a file that
//! evaluates (called with `pkgs` and `lib` when it is a function taking only
//! those) to a single derivation, rather than a system module.
//!
//! [`build_derivation_file`] returns `None` for a system module, so `b8g-build`
//! can try it first and fall back to the system build.

use crate::build::{nix_path, SystemBuildError, SystemBuildOptions};
use b8g_builder::glue::EvalSession;
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::Progress;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::{LocalStore, StoreConfig};

/// The expression: the file's derivation, or `[]` when the file is not one
/// (a module, or a function wanting more than `pkgs` and `lib`).
pub fn derivation_expr(opts: &SystemBuildOptions) -> Result<String, SystemBuildError> {
    Ok(format!(
        "let pkgs = import ({recipes} + \"/pkgs\") {{ b8gBin = {bin}; }}; \
         f = import {config}; fa = builtins.functionArgs f; \
         callable = builtins.isFunction f && builtins.all (n: n == \"pkgs\" || n == \"lib\" || fa.${{n}}) (builtins.attrNames fa); \
         v = if callable then f (builtins.intersectAttrs fa {{ inherit pkgs; lib = pkgs.lib; }}) else f; \
         in if builtins.isAttrs v && (v.type or null) == \"derivation\" then v else [ ]",
        recipes = nix_path(&opts.recipes)?,
        bin = crate::build::b8g_bin_expr(opts)?,
        config = nix_path(&opts.config)?,
    ))
}

/// Builds `opts.config` when it evaluates to a derivation (a unikernel image, say);
/// `Ok(None)` when it is a system module instead.
pub fn build_derivation_file(
    config: &StoreConfig,
    opts: &SystemBuildOptions,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<Option<(LocalStore, StorePath)>, SystemBuildError> {
    let expr = derivation_expr(opts)?;
    let store = LocalStore::open(config)?;
    let drvs = EvalSession::writing(store)
        .base_dir(&opts.recipes)
        .instantiate_expr(expr)?;
    let drv = match drvs.as_slice() {
        [] => return Ok(None),
        [d] => d.clone(),
        _ => return Err(SystemBuildError::NotOneDerivation(drvs.len())),
    };
    crate::build::realise_out(config, &drv, opts, progress, cancel).map(Some)
}
