#!/usr/bin/env bash
# Installs the third-party SIP peers the interop tests run against, from
# Debian's packages: sip-tester (SIPp), kamailio with its sqlite and presence
# modules (presence, presence_xml, rls, pua for the presence tests), and
# sqlite3 (to create the registrar's database). Idempotent and quiet: when every
# package is there it returns at once without touching apt. Fails loudly
# (non-zero, with apt's output) when a package cannot be installed.
set -euo pipefail

PKGS=(sip-tester kamailio kamailio-sqlite-modules kamailio-presence-modules sqlite3)

missing=()
for p in "${PKGS[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-peers: all present"; exit 0; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-peers: need root for: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "install-peers: installing ${missing[*]}"
# Refresh the package lists when they are missing or older than a day,
# and once more if the install fails on stale lists.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
  $SUDO apt-get update -qq >>"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
  $SUDO apt-get update -qq >>"$log" 2>&1 || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
fi
for b in sipp kamailio kamcmd sqlite3; do command -v "$b" >/dev/null || { echo "install-peers: $b missing after install" >&2; exit 1; }; done
echo "install-peers: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -n1)"
