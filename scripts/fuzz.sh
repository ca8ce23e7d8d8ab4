#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 30000x:
# thirty thousand inputs). Targets are found by name (func FuzzXxx(f
# *testing.F)), so new ones run without being registered anywhere.
#
# The default is a count, not a duration: with a duration, Go before 1.27
# can fail a target with a bare "context deadline exceeded" when the
# -fuzztime deadline fires while a worker is busy (go.dev/issue/75804, seen
# in our CI on go1.26.8). A count has no deadline, so a slow machine only
# takes longer. A duration still works (FUZZTIME=30s) for local runs.
set -euo pipefail
FUZZTIME=${FUZZTIME:-30000x}
cd "$(dirname "$0")/.."

if [ "$FUZZTIME" = "0" ] || [ "$FUZZTIME" = "0s" ] || [ "$FUZZTIME" = "0x" ]; then
	echo "fuzz: FUZZTIME=$FUZZTIME, skipping"
	exit 0
fi

status=0
count=0
failed=0
# Logs go to a directory of this run (a fixed /tmp name left by another
# user could not be written).
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
while IFS= read -r file; do
	dir=$(dirname "$file")
	for fn in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/'); do
		count=$((count + 1))
		echo "fuzz: ./$dir $fn for $FUZZTIME"
		start=$SECONDS
		if ! go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$FUZZTIME" "./$dir" >"$logs/$fn.log" 2>&1; then
			cat "$logs/$fn.log"
			echo "fuzz: FAIL ./$dir $fn" >&2
			status=1
			failed=$((failed + 1))
		fi
		echo "fuzz: ./$dir $fn took $((SECONDS - start))s"
	done
done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' . | sed 's|^\./||' | sort)
echo "fuzz: $((count - failed)) passed, $failed failed"
exit $status
