#!/usr/bin/env bash
# make demo: boot real network-boot firmware against pxeserver.
#
# Builds pxeserver, creates a private lab (a network namespace with a bridge,
# one tap device per machine, IPv6 router advertisements), starts pxeserver in
# lab DHCP mode with Debian's iPXE binaries, and boots four machines in QEMU
# (software emulation) one after another:
#   A   SeaBIOS + iPXE option ROM                  -> HTTP script
#   A2  iPXE ROM -> TFTP undionly.kpxe -> iPXE     -> HTTP script
#   B   OVMF UEFI PXE -> TFTP ipxe.efi -> iPXE     -> HTTP script
#   C   OVMF UEFI HTTP boot -> HTTP ipxe.efi -> iPXE -> HTTP script
# Each milestone is printed as pxeserver sees it, then a summary table.
#
# The lab lives in a namespace the test harness creates and always deletes
# (internal/netlab); nothing listens or sends in the root namespace. The run
# is bounded: 120 s per scenario, DEMO_TIMEOUT (default 15m) in all.
#
# Usage: bash scripts/demo.sh [A] [A2] [B] [C]   (default: all four)
#
# Exit status: 0 when every machine booted, 1 otherwise, 2 when the
# machine lacks what the demo needs (the message says what).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
DEMO_TIMEOUT=${DEMO_TIMEOUT:-15m}
run='^TestFirmwareBoot$'
if [ $# -gt 0 ]; then
	for s in "$@"; do
		case $s in A|A2|B|C) ;; *) printf 'demo: unknown scenario %s (A A2 B C)\n' "$s" >&2; exit 2;; esac
	done
	run="^TestFirmwareBoot\$/^($(IFS='|'; echo "$*"))\$"
fi

need() { printf 'demo: %s\n' "$*" >&2; exit 2; }

command -v go >/dev/null || need "the Go toolchain is needed (go1.25 or newer in PATH)"
if [ "$(id -u)" -ne 0 ]; then
	need "must run as root: the lab needs network namespaces and tap devices (try: sudo make demo)"
fi
[ -c /dev/net/tun ] || need "/dev/net/tun is missing (tap devices): modprobe tun"

# Installs what is missing (qemu-system-x86, ipxe, ipxe-qemu, ovmf, ...);
# packages never start services in the root namespace (see the script).
bash scripts/install-deps.sh || need "installing the Debian packages failed"
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=("qemu-system-x86_64 (qemu-system-x86)")
for f in /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/ipxe.efi /usr/lib/ipxe/qemu/efi-virtio.rom \
	/usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_VARS_4M.fd; do
	[ -e "$f" ] || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] || need "missing: ${missing[*]} (apt-get install qemu-system-x86 ipxe ipxe-qemu ovmf)"

WORK=$(mktemp -d /tmp/pxekit-demo.XXXXXX) || need "mktemp failed"
trap 'rm -rf "$WORK"' EXIT

echo "== building pxeserver"
go build -o "$WORK/pxeserver" ./examples/pxeserver || { echo "demo: build failed" >&2; exit 1; }
echo "   $WORK/pxeserver"
echo "   $(qemu-system-x86_64 --version | head -1)"
echo "   firmware: $(dpkg-query -W -f='${Package} ${Version}  ' ipxe ipxe-qemu ovmf 2>/dev/null)"
echo

# The scenarios run as the end-to-end test, which owns the lab (namespace,
# bridge, taps, QEMU, pxeserver) and removes it whatever happens. The sed
# turns the test's log into the demo's milestone lines.
# CI=1 makes a missing prerequisite fail the run instead of skipping it.
CI=1 PXESERVER_BIN="$WORK/pxeserver" \
	go test -count=1 -v -timeout "$DEMO_TIMEOUT" -run "$run" ./examples/pxeserver/ 2>&1 |
	sed -u -E \
		-e 's/^=== RUN   TestFirmwareBoot\/(.*)$/\n== Scenario \1/' \
		-e '/^=== RUN   TestFirmwareBoot$/d' \
		-e '/^=== (PAUSE|CONT|NAME)/d' \
		-e 's/^ *[a-z0-9_]+\.go:[0-9]+: ?/   /' \
		-e 's/^ *--- (PASS|FAIL): TestFirmwareBoot\/([A-Z0-9]+) \((.*)\)$/   => \2: \1 (\3)/' \
		-e 's/^--- (PASS|FAIL): TestFirmwareBoot \((.*)\)$/\n== \1 (\2)/' |
	tee "$WORK/demo.out"
rc=${PIPESTATUS[0]}
want=$#
[ "$want" -gt 0 ] || want=4
booted=$(grep -cE '^   => (A|A2|B|C): PASS' "$WORK/demo.out")
if [ "$rc" -eq 0 ] && [ "$booted" -ne "$want" ]; then
	echo "demo: $booted of $want machines reported booted"
	rc=1
fi
echo
if [ "$rc" -eq 0 ]; then
	echo "demo: every machine booted"
else
	echo "demo: FAILED (go test exit status $rc): see the lines above"
	rc=1
fi
exit "$rc"
