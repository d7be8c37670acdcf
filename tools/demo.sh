#!/usr/bin/env bash
# The main job: builds libtrindle and runs the example pipeline end to end
# (a source, workers and a sink moving 64 KiB segments between processes).
# Installs missing Debian packages first (tools/deps.sh).
# Usage: tools/demo.sh [arguments for trindle-pipeline]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
meson compile -C build >/dev/null
echo "== trindle-pipeline $*"
build/examples/trindle-pipeline "$@"
