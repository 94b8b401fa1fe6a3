# The generic builder of `stdenv.mkDerivation`, run by the seed busybox shell
# in the sandbox: unpack, patch, configure, build, check, install and fixup
# phases. A phase given as an attribute (`buildPhase = "..."`) replaces the
# default one; `preX`/`postX` run around it. Only busybox and the seed toolchain
# are on PATH (plus bin/ of buildInputs).
set -e

tools=$NIX_BUILD_TOP/.busybox
"$busyboxBin" mkdir -p "$tools"
"$busyboxBin" --install -s "$tools"
PATH=$tools
for p in $stdenvCc $nativeBuildInputs $buildInputs; do
  if [ -d "$p/bin" ]; then PATH=$p/bin:$PATH; fi
done
export PATH

# Make and configure would otherwise run /bin/sh, which the sandbox lacks.
export SHELL=$stdenvShell CONFIG_SHELL=$stdenvShell
# By path: the busybox shell runs its own applets (ar, strings, tar) before
# looking at PATH, also for the commands make runs through it.
for t in CC:cc CPP:cpp AR:ar RANLIB:ranlib LD:ld NM:nm STRIP:strip OBJCOPY:objcopy; do
  export "${t%%:*}=$stdenvCc/bin/${t#*:}"
done
export HOME=${HOME:-/homeless-shelter} TZ=UTC LC_ALL=C
# SOURCE_DATE_EPOCH comes from the sandbox; gcc uses it for __DATE__/__TIME__.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}
# The build directory's name must not end up in debug info or __FILE__.
export CFLAGS="${CFLAGS:--O2} -ffile-prefix-map=$NIX_BUILD_TOP/="
for p in $buildInputs; do
  if [ -d "$p/include" ]; then CPPFLAGS="$CPPFLAGS -I$p/include"; fi
  for l in "$p/lib" "$p/lib/x86_64-linux-gnu"; do
    if [ -d "$l" ]; then LDFLAGS="$LDFLAGS -L$l -Wl,-rpath,$l"; fi
  done
done
export CPPFLAGS LDFLAGS
jobs=${NIX_BUILD_CORES:-1}
[ "$enableParallelBuilding" = 1 ] || jobs=1

# Runs the hook held by the variable named $1, if set.
runHook() {
  local h
  eval "h=\${$1:-}"
  if [ -n "$h" ]; then eval "$h"; fi
}

# Rewrites `#!/bin/sh` (and env sh/bash) lines of the scripts under $1 to our shell.
patchShebangs() {
  find "$1" -type f -perm -u+x | while read -r f; do
    case "$(head -c 32 "$f")" in
      "#!/bin/sh"* | "#! /bin/sh"* | "#!/bin/bash"* | "#!/usr/bin/env sh"* | "#!/usr/bin/env bash"*)
        sed -i -e "1s|^#! *[^ ]*\(/env\)\{0,1\} *[a-z]*sh|#!$stdenvShell|" "$f" ;;
    esac
  done
}

unpackPhaseDefault() {
  mkdir -p "$NIX_BUILD_TOP/src-unpack"
  cd "$NIX_BUILD_TOP/src-unpack"
  for s in ${srcs:-$src}; do
    if [ -d "$s" ]; then
      cp -R "$s" "./${s#*-}"
    else
      # GNU tar from the seed toolchain, named by path: the busybox shell
      # prefers its own applets to PATH, and busybox tar cannot read old
      # (pre-POSIX) archives. It calls gzip/xz/bzip2 from PATH (busybox's).
      "$stdenvCc/bin/tar" xf "$s"
    fi
  done
  set -- *
  if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "unpack: expected one top directory in the sources, found: $*" >&2
    exit 1
  fi
  sourceRoot=$NIX_BUILD_TOP/src-unpack/$1
  chmod -R u+w "$sourceRoot"
  cd "$sourceRoot"
  patchShebangs .
}

patchPhaseDefault() {
  for p in $patches; do
    echo "applying $p"
    patch -p1 < "$p"
  done
}

configurePhaseDefault() {
  if [ -x ./configure ] || [ -f ./configure ]; then
    # shellcheck disable=SC2086
    $SHELL ./configure --prefix="$out" $configureFlags
  fi
}

buildPhaseDefault() {
  if [ -f Makefile ] || [ -f makefile ] || [ -f GNUmakefile ]; then
    # shellcheck disable=SC2086
    make -j"$jobs" SHELL="$SHELL" $makeFlags $buildFlags
  fi
}

checkPhaseDefault() {
  # shellcheck disable=SC2086
  make -j"$jobs" SHELL="$SHELL" $makeFlags ${checkTarget:-check}
}

installPhaseDefault() {
  # shellcheck disable=SC2086
  make SHELL="$SHELL" $makeFlags $installFlags install
}

fixupPhaseDefault() {
  [ -d "$out" ] || return 0
  patchShebangs "$out"
  if [ "$dontStrip" != 1 ]; then
    # Debug sections hold build paths and make outputs large.
    find "$out" -type f | while read -r f; do
      if [ "$(head -c 4 "$f" | tail -c 3)" = ELF ]; then
        "$STRIP" --strip-debug "$f" 2> /dev/null || true
      fi
    done
  fi
}

for P in Unpack Patch Configure Build Check Install Fixup; do
  phase=$(echo "$P" | tr A-Z a-z)
  if [ "$P" = Check ] && [ "$doCheck" != 1 ]; then continue; fi
  eval "skip=\${dont$P:-}"
  if [ "$skip" = 1 ]; then continue; fi
  echo "=== ${phase}Phase"
  runHook "pre$P"
  eval "custom=\${${phase}Phase:-}"
  if [ -n "$custom" ]; then
    eval "$custom"
  else
    "${phase}PhaseDefault"
  fi
  runHook "post$P"
done
