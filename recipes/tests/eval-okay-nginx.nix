# services.nginx: the configuration written to the store, the unit running it, and its user.
let
  pkgs = import ./fake-pkgs.nix;
  site = pkgs.b8gTree "site" { "index.html" = { type = "file"; text = "hi\n"; }; };
  sys = import ../eval-config.nix {
    inherit pkgs;
    modules = [{
      fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
      boot.kernel.package = pkgs.linux;
      services.nginx.enable = true;
      services.nginx.virtualHosts.localhost = {
        default = true;
        root = site;
      };
    }];
  };
  c = sys.config;
  strip = builtins.unsafeDiscardStringContext;
  conf = (builtins.fromJSON (strip c.services.nginx.configFile.tree))."".text;
  lines = builtins.filter (l: builtins.isString l && l != "") (builtins.split "\n" conf);
  unit = c.systemd.unitFiles."nginx.service";
  has = s: builtins.match ".*${s}.*" (builtins.replaceStrings [ "\n" ] [ " " ] unit) != null;
in
{
  confHead = builtins.genList (builtins.elemAt lines) 8;
  listen = builtins.filter (l: builtins.match " *(listen|server_name|root|index) .*" l != null) lines;
  runtimeDir = has "RuntimeDirectory=nginx";
  wanted = has "WantedBy=multi-user.target";
  passwd = builtins.filter (l: builtins.isString l && builtins.match "www-data.*" l != null) (builtins.split "\n" c.users.generatedFiles.passwd);
  group = builtins.filter (l: builtins.isString l && builtins.match "www-data.*" l != null) (builtins.split "\n" c.users.generatedFiles.group);
  # The served tree is a dependency of the configuration (so it is built and in the closure).
  siteIsInput = builtins.hasAttr (strip site.drvPath) (builtins.getContext c.services.nginx.configFile.tree);
  etc = strip "${c.environment.etc."nginx/nginx.conf".source}" == strip "${c.services.nginx.configFile}";
}
