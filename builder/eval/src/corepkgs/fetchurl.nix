# `<nix/fetchurl.nix>`: a fixed-output derivation built by the builder's
# `builtin:fetchurl`. Its attributes (names, values, order of the choices
# between hash arguments) must be those of Nix's own corepkg, since they
# make up the .drv and so its store path.
{ system ? ""
, url
, hash ? ""
, md5 ? ""
, sha1 ? ""
, sha256 ? ""
, sha512 ? ""
, outputHash ? (
    if hash != "" then hash
    else if sha512 != "" then sha512
    else if sha1 != "" then sha1
    else if md5 != "" then md5
    else sha256)
, outputHashAlgo ? (
    if hash != "" then ""
    else if sha512 != "" then "sha512"
    else if sha1 != "" then "sha1"
    else if md5 != "" then "md5"
    else "sha256")
, executable ? false
, unpack ? false
, name ? baseNameOf (toString url)
, impure ? false
}:
let
  common = {
    inherit name url executable unpack;
    builder = "builtin:fetchurl";
    system = "builtin";
    outputHashMode = if unpack || executable then "recursive" else "flat";
    preferLocalBuild = true;
    # Proxy settings pass through to the (network-using) builder.
    impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
    urls = [ url ];
  };
  content = if impure then { __impure = true; } else { inherit outputHash outputHashAlgo; };
in
derivation (common // content)
