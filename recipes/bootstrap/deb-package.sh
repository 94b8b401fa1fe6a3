# Lays out unpacked Debian packages as one store path that needs nothing from
# the host's /usr or /lib. Run by the seed busybox (`busybox sh deb-package.sh`)
# inside the build sandbox. Inputs (environment):
#   busybox      the static busybox binary (the only tool besides patchelf)
#   srcs         unpacked .deb trees, merged in order
#   deps         already laid-out store paths: absolute symlinks are resolved
#                against them and their library directories form the RUNPATH
#   rewriteElf   "1": give every dynamic ELF file the store's ld.so and a RUNPATH
#   interpreter  the store's ld.so (the laid-out libc6)
#   patchelf     a command line that runs patchelf through the seed ld.so
#   libSubdirs   more library directories of this package (sudo's libexec/sudo)
#
# Layout: `usr/` is merged into the top (usr/sbin/nginx becomes sbin/nginx,
# usr/lib/x86_64-linux-gnu and lib/x86_64-linux-gnu become one directory), so
# programs that find their files relative to their own location (gcc finding
# cc1 in ../lib/gcc/...) keep working.
set -e
set -f
bb=$busybox
tools=$NIX_BUILD_TOP/.tools
$bb mkdir -p "$tools"
$bb --install -s "$tools"
export PATH=$tools

R=$NIX_BUILD_TOP/root
mkdir "$R"
for s in $srcs; do
  cp -dR "$s/." "$R/"
  chmod -R u+w "$R"
done

# `norm /a/b/../c` prints /a/c.
norm() {
  local IFS=/ r= c
  for c in $1; do
    case $c in
      '' | .) ;;
      ..) r=${r%/*} ;;
      *) r=$r/$c ;;
    esac
  done
  echo "${r:-/}"
}
# The location of a Debian path once usr/ is merged into the top.
unusr() {
  case $1 in
    /usr) echo / ;;
    /usr/*) echo "${1#/usr}" ;;
    *) echo "$1" ;;
  esac
}

# Symlinks are taken out before the merge and put back afterwards, their
# targets resolved as Debian meant them (relative ones from their original
# directory), because the merge moves both ends.
links=$NIX_BUILD_TOP/links
: > "$links"
find "$R" -type l | sort > "$NIX_BUILD_TOP/link-list"
while read -r l; do
  rel=${l#"$R"}
  t=$(readlink "$l")
  case $t in
    /*) abs=$(norm "$t") ;;
    *) abs=$(norm "${rel%/*}/$t") ;;
  esac
  echo "$(unusr "$rel") $(unusr "$abs")" >> "$links"
  rm "$l"
done < "$NIX_BUILD_TOP/link-list"

if [ -d "$R/usr" ]; then
  cp -dR "$R/usr/." "$R/"
  rm -rf "$R/usr"
fi

# Is $1 (a merged path) provided by this package, either as a file or as a link?
provided() {
  [ -e "$R$1" ] || grep -q "^$1 " "$links"
}
while read -r at target; do
  mkdir -p "$R${at%/*}"
  if provided "$target"; then
    # Relative within the package: count the directories between `at` and the top.
    up= d=${at%/*}
    while [ -n "$d" ]; do up=../$up; d=${d%/*}; done
    ln -s "${up}${target#/}" "$R$at"
    continue
  fi
  found=
  for d in $deps; do
    if [ -e "$d$target" ]; then found=$d$target; break; fi
  done
  if [ -n "$found" ]; then
    ln -s "$found" "$R$at"
  else
    echo "dropping $at: its target $target is in no package given"
  fi
done < "$links"

mv "$R" "$out"

if [ "$rewriteElf" = 1 ]; then
  # Library directories of this package and its dependencies; --shrink-rpath
  # afterwards keeps only those that hold a needed library.
  libdirs=
  for d in "$out" $deps; do
    for sub in lib/x86_64-linux-gnu lib $libSubdirs; do
      if [ -d "$d/$sub" ]; then libdirs=$libdirs${libdirs:+:}$d/$sub; fi
    done
  done
  find "$out" -type f | sort > "$NIX_BUILD_TOP/files"
  n=0
  while read -r f; do
    [ "$(head -c 4 "$f" | tail -c 3)" = ELF ] || continue
    # Relocatable objects (crt*.o, kernel modules) and static programs have no
    # dynamic section: nothing to rewrite.
    $patchelf --print-rpath "$f" > /dev/null 2>&1 || continue
    if $patchelf --print-interpreter "$f" > /dev/null 2>&1; then
      $patchelf --set-interpreter "$interpreter" "$f"
    fi
    $patchelf --set-rpath "$libdirs" "$f"
    $patchelf --shrink-rpath "$f"
    n=$((n + 1))
  done < "$NIX_BUILD_TOP/files"
  echo "rewrote $n ELF files"
fi
