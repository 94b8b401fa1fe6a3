# attrsOf submodule with `name`, imports, disabledModules, specialArgs and _module.args.
let
  lib = import ../.;
  inherit (lib) mkOption types mkDefault mkIf;
  userModule = { name, config, ... }: {
    options = {
      home = mkOption { type = types.str; default = "/home/${name}"; };
      uid = mkOption { type = types.int; };
      shell = mkOption { type = types.str; default = "/bin/sh"; };
      isAdmin = mkOption { type = types.bool; default = false; };
      groups = mkOption { type = types.listOf types.str; default = [ ]; };
    };
    config.groups = mkIf config.isAdmin [ "wheel" ];
  };
  usersModule = {
    options.users = mkOption { type = types.attrsOf (types.submodule userModule); default = { }; };
  };
  eval = lib.evalModules {
    specialArgs = { site = "example"; };
    modules = [
      usersModule
      ./broken-module.nix
      { disabledModules = [ ./broken-module.nix ]; }
      ({ site, pkgs, ... }: {
        users.alice = { uid = 1000; isAdmin = true; };
        users.bob = { uid = 1001; shell = pkgs.shell; home = "/srv/${site}/bob"; };
      })
      { _module.args.pkgs = { shell = "/bin/zsh"; }; }
      { users.alice.groups = [ "audio" ]; }
    ];
  };
in
eval.config.users
