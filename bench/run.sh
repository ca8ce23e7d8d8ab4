#!/usr/bin/env bash
# make bench: runs the Go benchmarks of every package and keeps the output in
# bench/out/. The side-by-side harness against peer servers is bench/peers.sh
# when present.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
out=bench/out/go-bench-$(date -u +%Y%m%dT%H%M%SZ).txt
go test -run='^$' -bench=. -benchmem -count=${BENCHCOUNT:-3} ./... | tee "$out"
echo "bench: Go benchmarks written to $out"
if [ -x bench/peers.sh ]; then
	bench/peers.sh
fi
