# A server to copy and start from: OpenSSH (keys only), PostgreSQL, nginx and
# Redis, behind a firewall that lets in ssh and http only, with its address from
# DHCP and its clock kept by chrony. Programs come from Debian 12 (pkgs.debian.*,
# pinned in recipes/debian/lock.json).
#
#   b8g run-vm images/server.nix    # ssh -p 2222 root@127.0.0.1, http://127.0.0.1:8080/
#
# Put your public key in users.users.root.openssh.authorizedKeys.keys first.
{ pkgs, ... }:
let
  site = pkgs.b8gTree "server-site" {
    "index.html" = { type = "file"; text = "<!doctype html>\n<title>b8g</title>\n<h1>b8g server</h1>\n"; };
  };
in
{
  networking.hostName = "server";
  boot.kernel.package = pkgs.linux;
  boot.kernelParams = [ "quiet" ];
  # A writable root: the databases' state lives on it.
  fileSystems."/" = { device = "/dev/vda"; fsType = "ext4"; };
  time.timeZone = "UTC";
  networking.useDHCP = true;
  networking.firewall.enable = true;
  networking.firewall.allowedTCPPorts = [ 80 ];

  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
    settings.KbdInteractiveAuthentication = false;
  };
  users.users.root.openssh.authorizedKeys.keys = [ ];
  services.getty.autologinUser = "root";

  services.postgresql = {
    enable = true;
    ensureDatabases = [ "app" ];
    ensureUsers = [{ name = "app"; ensureDBOwnership = true; }];
  };
  services.redis.servers."".enable = true;
  services.nginx = {
    enable = true;
    virtualHosts.localhost = { default = true; root = site; };
  };
  services.chrony.enable = true;

  # Debian's bash as the login shell: busybox's sh runs its own applets before
  # the programs on PATH (its wget, less and vi over Debian's).
  users.defaultUserShell = pkgs.debian.bash;
  environment.systemPackages = (with pkgs.debian; [ bash less vim-tiny htop curl ]) ++ [ pkgs.busybox ];

  virtualisation.memorySize = 1024;
  virtualisation.forwardPorts = [
    { from = "host"; host.port = 2222; guest.port = 22; }
    { from = "host"; host.port = 8080; guest.port = 80; }
  ];
}
