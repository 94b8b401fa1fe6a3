# A minimal b8g system: a kernel, b8g-init, a root shell on the serial console.
# Build it with `b8g-build images/minimal.nix`; copy this file to start your own.
{ pkgs, ... }:
{
  networking.hostName = "minimal";
  boot.kernel.package = pkgs.linux;
  boot.kernelParams = [ "quiet" ];
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  services.getty.autologinUser = "root";
  # A password account (password `b8g`, a SHA-512 crypt hash as `openssl passwd -6`
  # makes): it logs in on a getty without autologin (cli/tests/serial_login.rs).
  users.users.guest = {
    isNormalUser = true;
    group = "users";
    hashedPassword = "$6$b8gguest$y7qkoogBJkQ5HAImKwTY3Pb4Qa095.nV.vyojwE3sSFz6.oXK/MiL4VFE0fSHOCnIpA2ex4TSolm5sx3nGbsX1";
  };
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
