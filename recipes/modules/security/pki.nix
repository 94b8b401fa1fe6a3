# security.pki, as NixOS has it: the certificate authorities programs trust, as
# one PEM bundle at /etc/ssl/certs/ca-certificates.crt (where Debian's curl,
# wget, git and OpenSSL look) and /etc/ssl/certs/ca-bundle.crt: Mozilla's set
# from Debian's ca-certificates (what its maintainer script's
# update-ca-certificates would have made), plus the configuration's own.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.security.pki;
  extra = pkgs.writeText "extra-ca-certificates.crt" (lib.concatStringsSep "\n" cfg.certificates + "\n");
  bundle = derivation {
    name = "ca-certificates.crt";
    system = "x86_64-linux";
    builder = pkgs.runtimeShell;
    args = [ "-c" ''
      set -e
      for f in "$mozilla"/usr/share/ca-certificates/mozilla/*.crt $files; do
        "$cat" "$f"
        echo
      done > "$out"
    '' ];
    mozilla = pkgs.debian.unpacked.ca-certificates;
    files = cfg.certificateFiles ++ lib.optional (cfg.certificates != [ ]) extra;
    cat = "${pkgs.busybox}/bin/cat";
    preferLocalBuild = true;
  };
in
{
  options.security.pki = {
    certificateFiles = mkOption { type = types.listOf types.path; default = [ ]; description = "More PEM files of certificate authorities to trust."; };
    certificates = mkOption { type = types.listOf types.str; default = [ ]; description = "More certificate authorities to trust, as PEM text."; };
    caBundle = mkOption { type = types.package; readOnly = true; description = "The bundle (/etc/ssl/certs/ca-certificates.crt)."; };
  };
  config = {
    security.pki.caBundle = bundle;
    environment.etc."ssl/certs/ca-certificates.crt".source = bundle;
    environment.etc."ssl/certs/ca-bundle.crt".source = bundle;
    # OpenSSL's own default (/usr/lib/ssl/cert.pem) is not in Debian's package; programs
    # that use it (python's ssl) read this instead.
    environment.variables.SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt";
  };
}
