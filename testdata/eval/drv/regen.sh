#!/bin/sh
# Regenerates drv-*.exp: what `nix-instantiate --eval --strict` (Nix 2.8) prints
# for each derivation test, against a throw-away local store (never the host's /nix).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NIX_STATE_DIR="$tmp/state" NIX_LOG_DIR="$tmp/log" NIX_CONF_DIR="$tmp/conf" HOME="$tmp"
for f in drv-*.nix; do
  nix-instantiate --eval --strict --store "local?root=$tmp/root" "$f" > "${f%.nix}.exp"
done
