#!/usr/bin/env bash
# Installs the Debian packages libtrindle needs, if any are missing.
# Usage: tools/deps.sh [extra-package ...]
set -euo pipefail

packages=(meson ninja-build pkg-config gcc g++ libc6-dev libcmocka-dev liburing-dev
          valgrind gawk coreutils grep groff-base libzmq3-dev clang libclang-rt-14-dev "$@")
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "tools/deps.sh: installing ${missing[*]}" >&2
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
