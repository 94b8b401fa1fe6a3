# b8g-tmpfiles [--root DIR] [--boot] PATH...: applies tmpfiles.d(5) rules from the
# given files (or the *.conf files of the given directories, in name order) as
# `systemd-tmpfiles --create --remove` does, for the types NixOS configurations
# use: d D f f+ w w+ L L+ z Z r R e (and x X, which only matter for cleaning).
# Not done: ages (no cleaning), specifiers (%h, %U, ...), C p c b a t h q v Q.
# The `!` modifier runs a line only with --boot; `-` ignores its failures.
# Busybox sh and applets are enough. Exit status 1 if a rule failed.
root=
boot=0
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=$2; shift 2 ;;
    --boot) boot=1; shift ;;
    *) break ;;
  esac
done
status=0
fail() { echo "tmpfiles: $file: $*" >&2; [ "$ignore" = 1 ] || status=1; }
# chmod/chown when the rule names a mode, user or group ("-" leaves them).
adjust() { # path mode user group [-R]
  if [ "$2" != - ]; then chmod $5 "${2#[~:]}" "$1" || fail "cannot chmod $1"; fi
  if [ "$3" != - ] || [ "$4" != - ]; then
    owner=; [ "$3" != - ] && owner=$3
    [ "$4" != - ] && owner="$owner:$4"
    chown $5 "$owner" "$1" || fail "cannot chown $1"
  fi
}
exists() { [ -e "$1" ] || [ -L "$1" ]; }
apply() { # type path mode user group age argument
  t=$1; p=$root$2; mode=$3; user=$4; group=$5; arg=$7
  ignore=0
  case $t in *!*) [ $boot = 1 ] || return 0 ;; esac
  case $t in *-*) ignore=1 ;; esac
  plus=0; case $t in *+*) plus=1 ;; esac
  case $2 in /*) ;; *) fail "path $2 is not absolute"; return ;; esac
  [ "$arg" = - ] && arg=
  case $t in
    d*|D*)
      if [ -d "$p" ]; then
        case $t in D*) find "$p" -mindepth 1 -maxdepth 1 -exec rm -rf {} + || fail "cannot empty $p" ;; esac
        adjust "$p" "$mode" "$user" "$group"
      elif exists "$p"; then fail "$p exists and is not a directory"
      else
        mkdir -p "$p" || { fail "cannot create $p"; return; }
        [ "$mode" = - ] && mode=0755
        adjust "$p" "$mode" "$user" "$group"
      fi ;;
    f*)
      if [ $plus = 1 ] || ! exists "$p"; then
        mkdir -p "$(dirname "$p")" && printf '%b' "$arg" > "$p" || { fail "cannot write $p"; return; }
        [ "$mode" = - ] && mode=0644
      fi
      adjust "$p" "$mode" "$user" "$group" ;;
    w*)
      if [ -e "$p" ]; then
        if [ $plus = 1 ]; then printf '%b' "$arg" >> "$p"; else printf '%b' "$arg" > "$p"; fi || fail "cannot write $p"
      fi ;;
    L*)
      if [ $plus = 1 ] && exists "$p" && [ "$(readlink "$p")" != "$arg" ]; then rm -rf "$p"; fi
      if ! exists "$p"; then
        mkdir -p "$(dirname "$p")" && ln -s "$arg" "$p" || fail "cannot link $p"
      fi ;;
    z*|e*) exists "$p" && adjust "$p" "$mode" "$user" "$group" ;;
    Z*) exists "$p" && adjust "$p" "$mode" "$user" "$group" -R ;;
    r*)
      if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir "$p" 2>/dev/null || true
      elif exists "$p"; then rm -f "$p" || fail "cannot remove $p"; fi ;;
    R*) exists "$p" && { rm -rf "$p" || fail "cannot remove $p"; } ;;
    x*|X*) ;;
    *) fail "type $t is not supported by b8g (line for $2 skipped)" ;;
  esac
}
for src in "$@"; do
  if [ -d "$src" ]; then set -- "$src"/*.conf; else set -- "$src"; fi
  for file in "$@"; do
    [ -f "$file" ] || continue
    while read -r t p mode user group age arg; do
      case $t in ''|'#'*) continue ;; esac
      apply "$t" "$p" "${mode:--}" "${user:--}" "${group:--}" "${age:--}" "${arg:--}"
    done < "$file"
  done
done
exit $status
