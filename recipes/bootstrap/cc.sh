# Assembles the seed C toolchain: one bin/ with a `cc`/`gcc` wrapper, binutils,
# make and GNU tar, and fixed copies of glibc's linker scripts. Run by the seed busybox.
# Inputs (environment): busybox, shell (a store path whose bin/sh is busybox),
# gcc, binutils, libcDev, libc, libgccS, make, tar, interpreter.
set -e
tools=$NIX_BUILD_TOP/.tools
$busybox mkdir -p "$tools"
$busybox --install -s "$tools"
export PATH=$tools

mkdir -p "$out/bin" "$out/lib"

# glibc's libc.so, libm.so and libm.a are linker scripts naming /lib/... and
# /usr/lib/...: rewritten to the store, and put first on the link path by -B below.
for f in "$libcDev"/lib/x86_64-linux-gnu/*.so "$libcDev"/lib/x86_64-linux-gnu/*.a; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  head -c 64 "$f" | grep -q "GNU ld script" || continue
  sed -e "s| /usr/lib/x86_64-linux-gnu/| $libcDev/lib/x86_64-linux-gnu/|g" \
      -e "s| /lib/x86_64-linux-gnu/| $libc/lib/x86_64-linux-gnu/|g" \
      -e "s| /lib64/| $libc/lib64/|g" "$f" > "$out/lib/${f##*/}"
  if grep -Eq " /(usr|lib)" "$out/lib/${f##*/}"; then
    echo "linker script ${f##*/} still names host paths:" >&2
    cat "$out/lib/${f##*/}" >&2
    exit 1
  fi
done

# The driver: gcc finds cc1 and crtbegin.o relative to itself; everything that
# Debian's gcc would look up under / is named explicitly. Programs it links get
# the store's ld.so as interpreter and glibc's and libgcc_s's directories as
# RUNPATH (what unwinds, a Rust build script say, loads libgcc_s.so.1).
# A static link (-static, -static-pie: rustc's +crt-static) gets neither: an
# interpreter would make the kernel load ld.so for a program that has none.
cat > "$out/bin/cc" <<WRAP
#!$shell/bin/sh
dynamic="-Wl,--dynamic-linker=$interpreter -Wl,-rpath,$libc/lib/x86_64-linux-gnu -Wl,-rpath,$libgccS/lib/x86_64-linux-gnu"
for a in "\$@"; do
  case "\$a" in -static|-static-pie) dynamic= ;; esac
done
exec $gcc/bin/gcc-12 \\
  -B$out/lib/ -B$libcDev/lib/x86_64-linux-gnu/ -B$binutils/bin/ -L$libgccS/lib/x86_64-linux-gnu \\
  -idirafter $libcDev/include/x86_64-linux-gnu -idirafter $libcDev/include \\
  \$dynamic \\
  "\$@"
WRAP
chmod +x "$out/bin/cc"
ln -s cc "$out/bin/gcc"
cat > "$out/bin/cpp" <<WRAP
#!$shell/bin/sh
exec $gcc/bin/cpp-12 -idirafter $libcDev/include/x86_64-linux-gnu -idirafter $libcDev/include "\$@"
WRAP
chmod +x "$out/bin/cpp"

for t in as ld ld.bfd ar ranlib nm strip objcopy objdump readelf size strings addr2line c++filt; do
  ln -s "$binutils/bin/$t" "$out/bin/$t"
done
ln -s "$make/bin/make" "$out/bin/make"
ln -s "$tar/bin/tar" "$out/bin/tar"
