# Option prefixes NixOS declares and b8g does not (yet), so that a NixOS habit
# such as `services.openssh.enable = true;` fails with a message that says so
# rather than a bare "does not exist". eval-config.nix passes `hint` to
# evalModules, and the submodules of users.users and systemd.services to theirs;
# prefixes b8g gains a module for must leave this list.
let
  prefixes = [
    "services.openssh.startWhenNeeded" "services.openssh.knownHosts"
    "services.mysql" "services.httpd"
    "services.caddy" "services.xserver" "services.printing" "services.pipewire" "services.pulseaudio"
    "services.avahi" "services.fail2ban" "services.tailscale" "services.cron" "services.timesyncd"
    "services.ntp" "services.resolved" "services.journald" "services.logind"
    "services.udev" "services.dbus" "services.samba" "services.nfs" "services.prometheus"
    "services.grafana" "services.nextcloud" "services.openvpn" "services.syncthing" "services.qemuGuest"
    "networking.networkmanager" "networking.wireless" 
    "networking.nat" "networking.wireguard" "networking.hosts" "networking.domain"
    "security.doas" "security.polkit" "security.pam" "security.acme" "security.rtkit"
    "boot.loader.grub" "boot.loader.efi" "boot.kernelPackages" "boot.initrd.luks"
    "boot.supportedFilesystems" "boot.tmp" "boot.kernel.sysctl" "boot.extraModulePackages"
    "nix" "nixpkgs" "programs" "hardware" "sound" "i18n" "console" "fonts" "xdg" "documentation"
    "powerManagement" "zramSwap" "location"
    "virtualisation.docker" "virtualisation.podman" "virtualisation.libvirtd" "virtualisation.oci-containers"
    "systemd.network" "systemd.user" "systemd.packages" "systemd.tmpfiles.settings"
    "environment.shells" "environment.pathsToLink" "environment.sessionVariables"
    "users.extraUsers" "users.extraGroups"
    "time.hardwareClockInLocalTime" "system.autoUpgrade" "system.copySystemConfiguration"
    # Inside submodules (`<name>` stands for any name).
    "users.users.<name>.hashedPasswordFile" "users.users.<name>.passwordFile"
    "users.users.<name>.linger" "users.users.<name>.useDefaultShell" "users.users.<name>.expires"
    "users.users.<name>.subUidRanges" "users.users.<name>.subGidRanges" "users.users.<name>.autoSubUidGidRange"
    "systemd.services.<name>.confinement" "systemd.services.<name>.onSuccess" "systemd.services.<name>.upholds"
    "systemd.services.<name>.scriptArgs" "systemd.services.<name>.stopIfChanged"
    "systemd.services.<name>.enableStrictShellChecks"
  ];
  # Component-wise: `p` (a list, "<name>" matching any component) starts `l`.
  isPrefixOf = p: l:
    builtins.length p <= builtins.length l
    && builtins.all (i: let c = builtins.elemAt p i; d = builtins.elemAt l i; in c == "<name>" || d == "<name>" || c == d)
      (builtins.genList (i: i) (builtins.length p));
  split = p: builtins.filter builtins.isString (builtins.split "\\." p);
in
{
  # The text added after "The option `LOC' does not exist. Definition in `FILE'.", or null.
  hint = loc:
    let
      name = builtins.concatStringsSep "." loc;
      above = builtins.filter (p: isPrefixOf (split p) loc) prefixes;
      below = builtins.filter (p: isPrefixOf loc (split p)) prefixes;
      tail = "b8g does not (yet). Run `b8g options` to see the options b8g has.";
    in
    if above != [ ] then "NixOS has `${builtins.head above}', ${tail}"
    else if below != [ ] then "NixOS has options under `${name}' (such as `${builtins.head below}'), ${tail}"
    else null;
}
