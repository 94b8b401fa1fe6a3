# system.activationScripts: shell snippets, ordered by their deps, that make the
# running system match a generation. b8g-init runs `<toplevel>/activate`
# at boot (with B8G_SYSTEM set); `b8g system switch` runs it on a live system.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  inherit (builtins) attrNames;
  snippet = types.submodule {
    options.text = mkOption { type = types.lines; description = "Shell commands."; };
    options.deps = mkOption { type = types.listOf types.str; default = [ ]; description = "Snippets that must run first."; };
  };
  scripts = config.system.activationScripts;
  # Depth-first: every snippet after its deps; unknown deps are an error.
  order =
    let
      visit = acc: n:
        if builtins.elem n acc.seen then acc
        else if !(scripts ? ${n}) then throw "system.activationScripts: unknown dependency `${n}'"
        else
          let after = builtins.foldl' visit (acc // { seen = acc.seen ++ [ n ]; }) scripts.${n}.deps;
          in after // { order = after.order ++ [ n ]; };
    in
    (builtins.foldl' visit { seen = [ ]; order = [ ]; } (attrNames scripts)).order;
in
{
  options.system.activationScripts = mkOption {
    type = types.attrsOf (types.coercedTo types.str (text: { inherit text; }) snippet);
    default = { };
    description = "Activation snippets by name.";
  };
  config.system.activationScripts = {
    specialfs = ''
      mkdir -p /run /var/lib /var/log /tmp /home /root /var/empty
      chmod 1777 /tmp
      # /usr is the system profile (images are made so); a writable root made
      # before that gets the links it lacks.
      [ -e /var/run ] || [ -L /var/run ] || ln -s /run /var/run 2>/dev/null || true
      for d in bin sbin lib libexec share include; do
        [ -e "/usr/$d" ] || [ -L "/usr/$d" ] || ln -s "/run/current-system/sw/$d" "/usr/$d" 2>/dev/null || true
      done
    '';
    etc = {
      deps = [ "specialfs" "users" ];
      text = ''
        # /etc/static points at this generation's etc; /etc entries link through it.
        ln -sfn "$system/etc" /etc/.static.tmp && mv -T /etc/.static.tmp /etc/static
        # b8g-etc-modes lines are `MODE USER GROUP TARGET`; the target is the rest of
        # the line, spaces included (`read` would trim them).
        etc_target() { t=''${1#* }; t=''${t#* }; printf '%s\n' "''${t#* }"; }
        : > /etc/.b8g-copied.tmp
        while IFS= read -r line; do
          [ -n "$line" ] && etc_target "$line" >> /etc/.b8g-copied.tmp
        done < /etc/static/b8g-etc-modes
        # Copies an older generation made that this one does not: removed (a dropped
        # secret must not stay), and linked again when this generation has the file.
        if [ -f /etc/.b8g-copied ]; then
          while IFS= read -r t; do
            [ -n "$t" ] || continue
            grep -Fxq -- "$t" /etc/.b8g-copied.tmp && continue
            case "/$t/" in */../*|*/./*|//*) continue ;; esac
            if [ -f "/etc/$t" ] && [ ! -L "/etc/$t" ]; then
              rm -f "/etc/$t"
              if [ -e "/etc/static/$t" ] && [ -d "/etc/''${t%/*}" ] && [ ! -L "/etc/''${t%/*}" ]; then ln -sfn "/etc/static/$t" "/etc/$t"; fi
            fi
          done < /etc/.b8g-copied
        fi
        for f in /etc/static/* /etc/static/.[!.]*; do
          [ -e "$f" ] || [ -L "$f" ] || continue
          name=''${f#/etc/static/}
          [ "$name" = b8g-etc-modes ] && continue
          if [ -L "/etc/$name" ] || [ ! -e "/etc/$name" ]; then ln -sfn "/etc/static/$name" "/etc/$name"; fi
        done
        # A copied file inside a directory (`myapp/config.ini`): the directories on its way
        # become real ones holding links to the generation's other entries, as NixOS's
        # setup-etc makes them, so the copy does not land in the store (through a link).
        : > /etc/.b8g-dirs.tmp
        etc_dir() {
          printf '%s\n' "$1" >> /etc/.b8g-dirs.tmp
          if [ -L "/etc/$1" ]; then rm -f "/etc/$1"; fi
          mkdir -p "/etc/$1"
          for e in "/etc/static/$1"/* "/etc/static/$1"/.[!.]*; do
            [ -e "$e" ] || [ -L "$e" ] || continue
            n=''${e##*/}
            if [ -L "/etc/$1/$n" ] || [ ! -e "/etc/$1/$n" ]; then ln -sfn "/etc/static/$1/$n" "/etc/$1/$n"; fi
          done
          for e in "/etc/$1"/*; do
            if [ -L "$e" ] && [ ! -e "$e" ]; then
              case "$(readlink "$e")" in /etc/static/*) rm -f "$e" ;; esac
            fi
          done
        }
        etc_dirs() {
          d=''${1%/*}
          [ "$d" = "$1" ] && return 0
          p=
          rest=$d
          while [ -n "$rest" ]; do
            part=''${rest%%/*}
            if [ "$part" = "$rest" ]; then rest=; else rest=''${rest#*/}; fi
            p=''${p:+$p/}$part
            etc_dir "$p"
          done
        }
        # Files with a mode are copies, not links (shadow, for instance).
        while IFS= read -r line; do
          [ -n "$line" ] || continue
          mode=''${line%% *}; rest=''${line#* }; user=''${rest%% *}; rest=''${rest#* }; group=''${rest%% *}
          target=$(etc_target "$line")
          # Never outside /etc, whatever the line says.
          case "/$target/" in */../*|*/./*|//*) echo "activation: refusing /etc target $target" >&2; continue ;; esac
          etc_dirs "$target"
          rm -f "/etc/$target"
          cp "/etc/static/$target" "/etc/$target.tmp"
          chmod "$mode" "/etc/$target.tmp"
          chown "$user:$group" "/etc/$target.tmp" 2>/dev/null || true
          mv "/etc/$target.tmp" "/etc/$target"
        done < /etc/static/b8g-etc-modes
        mv /etc/.b8g-copied.tmp /etc/.b8g-copied
        # Directories made real by an older generation: their links follow this one
        # (a new entry beside a copy that is gone would not be linked otherwise).
        if [ -f /etc/.b8g-dirs ]; then
          while IFS= read -r d; do
            case "/$d/" in */../*|*/./*|//*) continue ;; esac
            if [ -d "/etc/static/$d" ] && [ -d "/etc/$d" ] && [ ! -L "/etc/$d" ]; then etc_dir "$d"; fi
          done < /etc/.b8g-dirs
        fi
        mv /etc/.b8g-dirs.tmp /etc/.b8g-dirs
        # Links left by an older generation whose files are gone.
        for f in /etc/*; do
          if [ -L "$f" ] && [ ! -e "$f" ]; then
            case "$(readlink "$f")" in /etc/static/*) rm -f "$f" ;; esac
          fi
        done
      '';
    };
    current-system = {
      deps = [ "etc" ];
      text = ''
        ln -sfn "$system" /run/.current-system.tmp && mv -T /run/.current-system.tmp /run/current-system
        # What this boot started with (the first activation of a boot); /run is new
        # at every boot. A GC root, and never deleted as a generation.
        [ -L /run/booted-system ] || ln -s "$system" /run/booted-system
      '';
    };
  };
  config.system.build.activate = pkgs.writeScript "activate" (''
    #!${pkgs.runtimeShell}
    # Activates a generation: $1, or $B8G_SYSTEM as b8g-init sets it at boot.
    set -e
    system=''${1:-''${B8G_SYSTEM:?usage: activate <toplevel>}}
    export PATH=${pkgs.busybox}/bin
  '' + lib.concatMapStrings (n: "\n# ${n}\n${scripts.${n}.text}") order);
}
