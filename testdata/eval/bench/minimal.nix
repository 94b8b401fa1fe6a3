# Benchmark (d): the system toplevel of images/minimal.nix, evaluated with the
# recipes as `b8g-build` does (kernel-adapters' system_expr). Called with
# `--arg recipes /abs/recipes --arg config /abs/images/minimal.nix --arg b8gBin /abs/dir`.
{ recipes, config, b8gBin }:
(import (recipes + "/eval-config.nix") {
  modules = [ config ];
  pkgs = import (recipes + "/pkgs") { inherit b8gBin; };
}).config.system.build.toplevel.drvPath
