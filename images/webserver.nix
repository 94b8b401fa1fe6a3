# A web server: nginx (from the Debian seed) serving one page. `b8g run-vm
# images/webserver.nix` boots it and forwards http://127.0.0.1:8080/ on the
# host to port 80 in the VM.
{ pkgs, ... }:
let
  site = pkgs.b8gTree "webserver-site" {
    "index.html" = {
      type = "file";
      text = ''
        <!doctype html>
        <title>b8g</title>
        <h1>Hello from nginx on b8g</h1>
      '';
    };
  };
in
{
  networking.hostName = "webserver";
  boot.kernel.package = pkgs.linux;
  boot.kernelParams = [ "quiet" ];
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  services.getty.autologinUser = "root";
  environment.systemPackages = [ pkgs.busybox ];

  services.nginx = {
    enable = true;
    virtualHosts.localhost = {
      default = true;
      root = site;
    };
  };

  virtualisation.forwardPorts = [{ from = "host"; host.port = 8080; guest.port = 80; }];
}
