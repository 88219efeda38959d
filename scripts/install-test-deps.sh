#!/usr/bin/env bash
# Installs the system tools the test suite uses when they are missing: iproute2 (`ip`, network
# namespaces), iptables (iptables-restore/ip6tables-restore for transparent capture), util-linux
# (`setpriv`, to run the test proxy as uid 1337) and a C toolchain for node-gyp (the native
# addon in native/). Idempotent and quiet: it installs nothing when everything is present, and
# does nothing at all without root (the namespace tests then skip with a visible reason).
set -euo pipefail

# command -> Debian package that provides it
declare -A wanted=(
  [ip]=iproute2
  [iptables-restore]=iptables
  [ip6tables-restore]=iptables
  [iptables-save]=iptables
  [setpriv]=util-linux
  [make]=make
  [g++]=g++
  [python3]=python3
)

missing=()
for cmd in "${!wanted[@]}"; do
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1; then
    missing+=("${wanted[$cmd]}")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
# Deduplicate (several commands come from one package).
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: not root; not installing ${packages[*]} (namespace tests will be skipped)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: no apt-get; please install ${packages[*]} yourself" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-test-deps: failed to install ${packages[*]}" >&2
  exit 1
fi
echo "install-test-deps: installed ${packages[*]}"
