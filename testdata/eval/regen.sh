#!/bin/sh
# Regenerates the golden outputs of the evaluation corpus with the real
# nix-instantiate (Nix 2.8), against a throw-away store (never the host's /nix).
#   eval-okay-X.nix -> eval-okay-X.exp (--eval --strict), eval-okay-X.exp.json (--json, if Nix succeeds)
#   eval-fail-X.nix -> eval-fail-X.err.exp (Nix's first error line)
# eval-okay-newer-* and eval-fail-newer-* follow later Nix releases; their
# golden files are written by hand from the Nix manual and are left alone.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NIX_STATE_DIR="$tmp/state" NIX_LOG_DIR="$tmp/log" NIX_CONF_DIR="$tmp/conf" HOME="$tmp"
run() { nix-instantiate --eval --strict --store dummy:// -I corpus="$PWD" "$@"; }
for f in eval-okay-*.nix; do
  case $f in eval-okay-newer-*) continue ;; esac
  b=${f%.nix}
  if ! run "$f" > "$b.exp" 2> "$tmp/err"; then echo "$f: failed in Nix: $(grep -m1 '^error:' "$tmp/err")" >&2; rm -f "$b.exp"; continue; fi
  if run --json "$f" > "$tmp/json" 2>/dev/null; then mv "$tmp/json" "$b.exp.json"; else rm -f "$b.exp.json"; fi
done
for f in eval-fail-*.nix; do
  case $f in eval-fail-newer-*) continue ;; esac
  if run "$f" > /dev/null 2> "$tmp/err"; then echo "$f: unexpectedly succeeded" >&2; continue; fi
  grep -m1 '^error:' "$tmp/err" > "${f%.nix}.err.exp"
done
