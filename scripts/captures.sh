#!/usr/bin/env bash
# make captures: boot real network-boot firmware under QEMU and record the
# packets the tests decode, as small pcapng files in internal/pcaptest/testdata.
#
# Each capture boots one machine (internal/qemulab) in a private network
# namespace (internal/netlab) against stand-in servers written by others:
# dnsmasq (DHCP, TFTP) and atftpd (TFTP with windowsize), unpacked from its
# Debian package like bench/ does (its package would start a service in the
# root namespace). See internal/pcaptest/testdata/README.md for what each file
# holds. Takes about 10 minutes (software emulation).
#
# Usage: bash scripts/captures.sh [NAME...]   NAME: a file name without
# .pcapng (default: all six). Needs root. CAPTURES_OUT=DIR writes elsewhere.
set -euo pipefail

cd "$(dirname "$0")/.."
out=${CAPTURES_OUT:-$(pwd)/internal/pcaptest/testdata}
if [ "$(id -u)" -ne 0 ]; then
	echo "captures: must run as root (network namespaces, tap devices)" >&2
	exit 2
fi
bash scripts/install-deps.sh
if ! dpkg-query -W -f='${Status}' libwrap0 2>/dev/null | grep -q "install ok installed"; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libwrap0
fi
work=$(mktemp -d /tmp/pxekit-captures.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download atftpd >/dev/null 2>&1)
deb=$(ls "$work"/atftpd_*.deb)
dpkg-deb -x "$deb" "$work/atftpd"

run='^TestMakeCaptures$'
if [ $# -gt 0 ]; then
	run="^TestMakeCaptures\$/^($(IFS='|'; echo "$*"))\$"
fi
echo "captures: $(qemu-system-x86_64 --version | head -1)"
echo "captures: $(dpkg-query -W -f='${Package} ${Version}  ' ipxe ipxe-qemu ovmf dnsmasq-base) atftpd $(dpkg-deb -f "$deb" Version)"
go test -tags captures -count=1 -timeout 40m -v -run "$run" ./internal/pcaptest/ \
	-args -out "$out" -atftpd "$work/atftpd/usr/sbin/atftpd"
