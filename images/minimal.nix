# A minimal b8g system: a kernel, b8g-init, a root shell on the serial console.
# Build it with `b8g-build images/minimal.nix`; copy this file to start your own.
{ pkgs, ... }:
{
  networking.hostName = "minimal";
  boot.kernel.package = pkgs.linux;
  boot.kernelParams = [ "quiet" ];
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  services.getty.autologinUser = "root";
  environment.systemPackages = [ pkgs.busybox ];
  systemd.services.hello = {
    description = "Greets the console once the system is up";
    wantedBy = [ "multi-user.target" ];
    serviceConfig = { Type = "oneshot"; StandardOutput = "journal+console"; };
    script = ''
      echo "hello from $(cat /etc/hostname) on b8g"
    '';
  };
}
