// Package bench holds pxekit's side-by-side benchmarks: pxekit against the
// servers users would pick instead (tftpd-hpa, atftpd, dnsmasq, pin/tftp), in
// the same run, on the same paths, inside network namespaces.
//
// The harness is a Go test behind the "bench" build tag so that `go test ./...`
// does not run it; `make bench` (bench/run.sh) does, and writes RESULTS.md.
package bench
