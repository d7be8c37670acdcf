# SPDX-License-Identifier: MIT
# Sourced by the example checks: what every one of them needs.

# Each script runs its program many times; under ThreadSanitizer each run
# would otherwise sleep a second at exit (atexit_sleep_ms defaults to 1000).
TSAN_OPTIONS="${TSAN_OPTIONS:-}${TSAN_OPTIONS:+:}atexit_sleep_ms=0"
export TSAN_OPTIONS

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The text tools' checks: what coreutils do as trindle-$tool (wc, grep -F
# with $pattern, or sort) on the same arguments.
reference() {
	case $tool in
	wc) wc "$@" ;;
	grep) grep -F -e "$pattern" "$@" ;;
	sort) sort "$@" ;;
	esac
}
