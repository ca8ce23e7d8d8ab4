package main

import (
	"bytes"
	"strings"
	"testing"
)

// A -json stream (cut from real go test runs) with a skipped test, a
// skipped subtest, a passing test, a failing test and a build error.
const stream = `{"Action":"start","Package":"x/p"}
{"Action":"run","Package":"x/p","Test":"TestA"}
{"Action":"output","Package":"x/p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"x/p","Test":"TestA","Output":"    p_test.go:3: no data here\n"}
{"Action":"output","Package":"x/p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}
{"Action":"skip","Package":"x/p","Test":"TestA","Elapsed":0}
{"Action":"run","Package":"x/p","Test":"TestB"}
{"Action":"output","Package":"x/p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"run","Package":"x/p","Test":"TestB/s"}
{"Action":"output","Package":"x/p","Test":"TestB/s","Output":"=== RUN   TestB/s\n"}
{"Action":"output","Package":"x/p","Test":"TestB/s","Output":"    p_test.go:4: sub reason\n"}
{"Action":"output","Package":"x/p","Test":"TestB/s","Output":"--- SKIP: TestB/s (0.00s)\n"}
{"Action":"skip","Package":"x/p","Test":"TestB/s","Elapsed":0}
{"Action":"output","Package":"x/p","Test":"TestB","Output":"--- PASS: TestB (0.00s)\n"}
{"Action":"pass","Package":"x/p","Test":"TestB","Elapsed":0}
{"Action":"run","Package":"x/p","Test":"TestD"}
{"Action":"output","Package":"x/p","Test":"TestD","Output":"=== RUN   TestD\n"}
{"Action":"output","Package":"x/p","Test":"TestD","Output":"    q_test.go:3: boom\n"}
{"Action":"output","Package":"x/p","Test":"TestD","Output":"--- FAIL: TestD (0.00s)\n"}
{"Action":"fail","Package":"x/p","Test":"TestD","Elapsed":0}
{"Action":"output","Package":"x/p","Output":"FAIL\n"}
{"Action":"output","Package":"x/p","Output":"FAIL\tx/p\t0.046s\n"}
{"Action":"fail","Package":"x/p","Elapsed":0.05}
{"Action":"output","Package":"x/q","Output":"PASS\n"}
{"Action":"output","Package":"x/q","Output":"ok  \tx/q\t0.019s\n"}
{"Action":"pass","Package":"x/q","Elapsed":0.02}
{"Action":"skip","Package":"x/r","Output":"?   \tx/r\t[no test files]\n"}
go: downloading example.com/m v1.0.0
`

func TestSummary(t *testing.T) {
	var out bytes.Buffer
	code := run(strings.NewReader(stream), &out)
	want := "    q_test.go:3: boom\n--- FAIL: TestD (0.00s)\nFAIL\nFAIL\tx/p\t0.046s\nok  \tx/q\t0.019s\n" +
		"go: downloading example.com/m v1.0.0\n" +
		"\nskipped tests:\n  x/p TestA: p_test.go:3: no data here\n  x/p TestB/s: p_test.go:4: sub reason\ntests: 1 passed, 1 failed, 2 skipped\n"
	if code != 1 || out.String() != want {
		t.Errorf("exit %d, output:\n%s\nwant exit 1 and:\n%s", code, out.String(), want)
	}
}

func TestSummaryCleanRun(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		code     int
		want     string
	}{
		{"all pass", `{"Action":"output","Package":"x/q","Output":"ok  \tx/q\t0.019s\n"}` + "\n" +
			`{"Action":"pass","Package":"x/q"}` + "\n", 0, "ok  \tx/q\t0.019s\ntests: 0 passed, 0 failed, 0 skipped\n"},
		{"build failure", `{"ImportPath":"x/q","Action":"build-output","Output":"q.go:1: syntax error\n"}` + "\n" +
			`{"ImportPath":"x/q","Action":"build-fail"}` + "\n", 1, "q.go:1: syntax error\ntests: 0 passed, 0 failed, 0 skipped\n"},
		{"panic while a test runs", `{"Action":"output","Package":"x/q","Test":"TestP","Output":"panic: boom\n"}` + "\n" +
			`{"Action":"output","Package":"x/q","Output":"FAIL\tx/q\t0.1s\n"}` + "\n" +
			`{"Action":"fail","Package":"x/q"}` + "\n", 1, "FAIL\tx/q\t0.1s\npanic: boom\ntests: 0 passed, 0 failed, 0 skipped\n"},
		{"skip without reason", `{"Action":"skip","Package":"x/q","Test":"TestS"}` + "\n", 0,
			"\nskipped tests:\n  x/q TestS: (no reason given)\ntests: 0 passed, 0 failed, 1 skipped\n"},
	} {
		var out bytes.Buffer
		if code := run(strings.NewReader(tc.in), &out); code != tc.code || out.String() != tc.want {
			t.Errorf("%s: exit %d, output %q; want %d, %q", tc.name, code, out.String(), tc.code, tc.want)
		}
	}
}
