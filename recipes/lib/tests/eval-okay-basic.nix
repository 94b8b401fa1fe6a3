# Options with defaults, priorities, conditions and ordering.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkDefault mkForce mkMerge mkBefore mkAfter;
  eval = lib.evalModules {
    modules = [
      {
        options = {
          name = mkOption { type = types.str; default = "anon"; };
          port = mkOption { type = types.port; default = 80; };
          enable = mkOption { type = types.bool; default = false; };
          tags = mkOption { type = types.listOf types.str; default = [ ]; };
          motd = mkOption { type = types.lines; default = ""; };
          extra = mkOption { type = types.attrsOf types.int; default = { }; };
          nested.deep.value = mkOption { type = types.nullOr types.int; default = null; };
        };
      }
      ({ config, ... }: {
        name = mkDefault "server";
        enable = true;
        tags = mkIf config.enable [ "enabled" ];
        motd = mkAfter "last line";
        extra.a = 1;
      })
      ({ config, lib, ... }: {
        config = mkMerge [
          { tags = mkBefore [ "first" ]; motd = "first line"; }
          (mkIf (!config.enable) { tags = [ "never" ]; })
          { port = mkForce 8080; extra = { b = 2; c = mkIf false 3; }; }
        ];
      })
      { port = 443; nested.deep.value = 7; }
    ];
  };
in
eval.config
