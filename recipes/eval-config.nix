# Evaluates a system configuration: `import ./eval-config.nix { modules = [ ./system.nix ]; }`.
# Returns the evalModules result; `.config.system.build.toplevel` is the system.
{ modules, pkgs ? import ./pkgs { }, specialArgs ? { } }:
let lib = import ./lib;
in
lib.evalModules {
  modules = import ./modules/module-list.nix ++ modules ++ [{ _module.args.pkgs = lib.mkDefault pkgs; }];
  specialArgs = { modulesPath = ./modules; } // specialArgs;
  undeclaredHint = (import ./modules/nixos-options.nix).hint;
}
