#!/usr/bin/env bash
# make bench: pxekit side by side with tftpd-hpa, atftpd, dnsmasq and pin/tftp,
# in network namespaces (root), then the Go micro-benchmarks. Writes
# bench/RESULTS.md; raw logs go to bench/out/.
#
# Knobs (environment): BENCH_RUNS (loopback runs, 5), BENCH_DELAY_RUNS (3),
# BENCH_LOSS_RUNS (20), BENCH_STORM_RUNS (2), BENCH_STORM_CLIENTS (50,200), BENCH_TFTPD_OLD (an older tftpd
# to storm-test interleaved), BENCH_STORM_PROBE (1: also the one-loop probe), BENCH_LOOPBACK_MIB (32), BENCHTIME (1s),
# BENCH_CEILING_RUNS (3), BENCH_CEILING_MIB (128), BENCH_SERVERS (names, comma-separated);
# the fleet simulation: BENCH_FLEET (machines, 10000), BENCH_FLEET_TFTP (how many of
# them fetch ipxe.efi over TFTP, all), BENCH_FLEET_INFLIGHT (booting at once, 500),
# BENCH_FLEET_RAMP (power-ons spread over this long, 0s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/bench/out
mkdir -p "$out/bin" "$out/peers"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (network namespaces); run as root" >&2
	exit 1
fi
bash scripts/install-deps.sh

# Peer servers whose packages would start services in the root namespace are
# unpacked, not installed. They need libwrap0.
if ! dpkg-query -W -f='${Status}' libwrap0 2>/dev/null | grep -q "install ok installed"; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libwrap0
fi
peer_versions=()
for p in tftpd-hpa atftpd; do
	deb=$(ls "$out"/peers/${p}_*.deb 2>/dev/null | head -1 || true)
	if [ -z "$deb" ]; then
		(cd "$out/peers" && apt-get download "$p" 2>/dev/null)
		deb=$(ls "$out"/peers/${p}_*.deb | head -1)
	fi
	# Each in its own tree: atftpd also ships a /usr/sbin/in.tftpd.
	rm -rf "$out/peers/$p"
	dpkg-deb -x "$deb" "$out/peers/$p"
	peer_versions+=("$p $(dpkg-deb -f "$deb" Version) (unpacked)")
done

go build -o "$out/bin/pintftpd" ./bench/cmd/pintftpd
go build -o "$out/bin/pinget" ./bench/cmd/pinget
go build -o "$out/bin/pxkdhcp" ./bench/cmd/pxkdhcp
go build -o "$out/bin/doraload" ./bench/cmd/doraload
go build -o "$out/bin/tftpd" ./examples/tftpd
go build -o "$out/bin/pxeserver" ./examples/pxeserver
go build -o "$out/bin/fleetsim" ./bench/cmd/fleetsim
go build -o "$out/bin/steploop" ./bench/cmd/steploop

stamp=$(date -u +%Y%m%dT%H%M%SZ)
export BENCH_BIN=$out/bin BENCH_PEERS=$out/peers BENCH_RESULTS=$root/bench/RESULTS.md
export BENCH_PEER_VERSIONS="$(IFS=,; echo "${peer_versions[*]}")"
status=0
(cd bench && go test -tags bench -count=1 -timeout 40m -v .) 2>&1 | tee "$out/peers-$stamp.log" || status=1

# Go micro-benchmarks: policy decisions, script parsing, TFTP engine.
gobench=$out/go-bench-$stamp.txt
go test -run='^$' -bench=. -benchmem -benchtime=${BENCHTIME:-1s} -count=1 \
	./archdetect ./dhcpboot ./ipxescript ./tftpserve 2>&1 | tee "$gobench" || status=1
{
	echo
	echo "## Go benchmarks (go test -bench, one run)"
	echo
	echo '```'
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$gobench" || true
	echo '```'
} >>bench/RESULTS.md

# Nothing of ours may survive the run.
left=$(ip netns list 2>/dev/null | grep -cE '^pxk' || true)
echo "bench: done (status $status); namespaces left: $left; results in bench/RESULTS.md"
exit $status
