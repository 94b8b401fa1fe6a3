# /etc/static is the generation's link: an entry of that name would replace it.
((import ./system.nix) [{ environment.etc.static.text = "x"; }]).config.system.build.toplevel.drvPath
