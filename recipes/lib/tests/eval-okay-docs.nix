# Option documentation as Markdown, descending into submodules.
let
  lib = import ../.;
  inherit (lib) mkOption mkEnableOption types;
  eval = lib.evalModules { modules = [{
    options.services.web = {
      enable = mkEnableOption "the web server";
      port = mkOption { type = types.port; default = 80; description = "Port to listen on."; example = 8080; };
      sites = mkOption {
        description = "Virtual hosts.";
        default = { };
        type = types.attrsOf (types.submodule {
          options.root = mkOption { type = types.path; description = "Document root."; };
        });
      };
    };
  }]; };
in
lib.optionsMarkdown eval.options
