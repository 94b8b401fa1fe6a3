# pkgs.debian.<name>: Debian 12 binary packages pinned in ./lock.json (written by
# `b8g bootstrap add-debian NAME...` and refreshed by `b8g bootstrap lock` from
# the indices apt verified), with their Pre-Depends/Depends closure.
#
# Each component of the lock (packages that depend on each other in a cycle
# share one) is laid out as the seeds are (recipes/bootstrap/deb-package.sh):
# usr/ merged into the top, programs given the store's ld.so and a RUNPATH of
# the components they depend on. Maintainer scripts do not run. libc6 is the
# seed's glibc, whatever version the lock names, since every relocated program
# runs with its ld.so.
#
# `pkgs.debian.<name>` is the package with its whole closure joined as one
# profile, so environment.systemPackages gets everything it needs into the
# system profile; programs with compiled-in /usr paths (python's stdlib, git's
# helpers, vim's runtime) find them there through /usr (docs/architecture.md).
# `pkgs.debian.components.<component>` are the laid-out store paths themselves.
# `lockFile` replaces the lock (tests of a lock that went stale).
{ lib, bootstrap, symlinkJoin, b8gTree, lockFile ? null }:
let
  inherit (builtins) fromJSON readFile mapAttrs genericClosure replaceStrings filter concatMap;
  # A local, untracked override (`cargo xtask test` writes it when packages of
  # the committed lock have left the archive) replaces the committed lock.
  file = if lockFile != null then lockFile
    else if builtins.pathExists ./lock.override.json
    then builtins.trace "warning: recipes/debian/lock.override.json replaces recipes/debian/lock.json" ./lock.override.json
    else ./lock.json;
  lock = fromJSON (readFile file);
  storeVersion = replaceStrings [ ":" "~" ] [ "_" "_" ];
  pinOf = name: {
    package = name;
    inherit (lock.packages.${name}) version sha256;
    # What a failed download tells the user to run.
    lockCommand = "b8g bootstrap lock";
  };
  components = mapAttrs
    (cname: c:
      if cname == "libc6" then bootstrap.seeds.libc6
      else bootstrap.debPackage {
        name = "deb-${cname}-${storeVersion lock.packages.${cname}.version}";
        debs = map pinOf c.packages;
        # The whole closure, not only direct dependencies: Debian does not always
        # depend directly on the package of a library it links (rustc links
        # librustc_driver of libstd-rust-web-1.96 through libstd-rust-web-dev).
        # RUNPATHs are shrunk to the directories that hold a needed library.
        deps = map (d: components.${d}) (builtins.filter (d: d != cname) (componentNames cname));
      })
    lock.components;
  # libc-bin (locales such as C.UTF-8, iconv's modules, ldconfig) is Essential
  # in Debian, so packages count on it without naming it (tmux refuses to start
  # without a UTF-8 locale): every package brings it when the lock has it.
  essential = if lock.packages ? libc-bin then componentNames lock.packages.libc-bin.component else [ ];
  # The components a component needs, itself first.
  componentNames = cname: map (x: x.key) (genericClosure {
    startSet = [{ key = cname; }];
    operator = x: map (d: { key = d; }) lock.components.${x.key}.depends;
  });
  alternatives = import ./alternatives.nix;
  # The alternatives links of the packages of a closure (by component name).
  alternativesOf = name: cnames:
    let
      pkgs = filter (n: alternatives ? ${n}) (concatMap (c: lock.components.${c}.packages) cnames);
      links = builtins.foldl' (acc: n: acc // mapAttrs
        (_: target: { type = "symlink"; target = "${components.${lock.packages.${n}.component}}/${target}"; })
        alternatives.${n}) { } pkgs;
    in
    if links == { } then [ ] else [ (b8gTree "${name}-alternatives" links) ];
  package = name: p:
    let cnames = lib.unique (componentNames p.component ++ essential); in
    symlinkJoin {
      name = "${name}-${storeVersion p.version}";
      paths = map (c: components.${c}) cnames ++ alternativesOf name cnames;
    } // {
      pname = name;
      # Debian's version without its epoch ("7.0.15-1~deb12u10" of "5:7.0.15-1~deb12u10").
      version = lib.last (lib.splitString ":" p.version);
      debianVersion = p.version;
    };
in
mapAttrs package lock.packages // {
  inherit components;
  # A package's files as the .deb has them, nothing relocated (data only: CA
  # certificates, time zones).
  unpacked = mapAttrs (name: _: bootstrap.unpackDeb (pinOf name)) lock.packages;
}
