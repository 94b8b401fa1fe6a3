# Option prefixes NixOS declares and b8g does not (yet), so that a NixOS habit
# such as `services.openssh.enable = true;` fails with a message that says so
# rather than a bare "does not exist". eval-config.nix passes `hint` to
# evalModules; prefixes b8g gains a module for must leave this list.
let
  prefixes = [
    "services.openssh" "services.postgresql" "services.mysql" "services.redis" "services.httpd"
    "services.caddy" "services.xserver" "services.printing" "services.pipewire" "services.pulseaudio"
    "services.avahi" "services.fail2ban" "services.tailscale" "services.cron" "services.timesyncd"
    "services.chrony" "services.ntp" "services.resolved" "services.journald" "services.logind"
    "services.udev" "services.dbus" "services.samba" "services.nfs" "services.prometheus"
    "services.grafana" "services.nextcloud" "services.openvpn" "services.syncthing" "services.qemuGuest"
    "networking.firewall" "networking.networkmanager" "networking.wireless" "networking.useDHCP"
    "networking.nat" "networking.wireguard" "networking.hosts" "networking.domain"
    "security.sudo" "security.doas" "security.polkit" "security.pam" "security.acme" "security.rtkit"
    "boot.loader.grub" "boot.loader.efi" "boot.kernelPackages" "boot.initrd.luks"
    "boot.supportedFilesystems" "boot.tmp" "boot.kernel.sysctl" "boot.extraModulePackages"
    "nix" "nixpkgs" "programs" "hardware" "sound" "i18n" "console" "fonts" "xdg" "documentation"
    "powerManagement" "zramSwap" "location"
    "virtualisation.docker" "virtualisation.podman" "virtualisation.libvirtd" "virtualisation.oci-containers"
    "systemd.network" "systemd.user" "systemd.packages" "systemd.tmpfiles.settings"
    "environment.shells" "environment.pathsToLink" "environment.sessionVariables"
    "users.extraUsers" "users.extraGroups"
    "time.hardwareClockInLocalTime" "system.autoUpgrade" "system.copySystemConfiguration"
  ];
  isPrefixOf = p: s: p == s || builtins.substring 0 (builtins.stringLength p + 1) s == "${p}.";
in
{
  # The text added after "The option `LOC' does not exist. Definition in `FILE'.", or null.
  hint = loc:
    let
      name = builtins.concatStringsSep "." loc;
      above = builtins.filter (p: isPrefixOf p name) prefixes;
      below = builtins.filter (p: isPrefixOf name p) prefixes;
      tail = "b8g does not (yet). Run `b8g options` to see the options b8g has.";
    in
    if above != [ ] then "NixOS has `${builtins.head above}', ${tail}"
    else if below != [ ] then "NixOS has options under `${name}' (such as `${builtins.head below}'), ${tail}"
    else null;
}
