package dhcpboot

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// Every type with a Logger field logs through logger(): a nil Logger logs
// nothing (and does not panic), a set one gets the records.
func TestLoggerNilDiscards(t *testing.T) {
	var buf bytes.Buffer
	set := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tests := []struct {
		name string
		get  func(*slog.Logger) *slog.Logger
	}{
		{"Responder4", func(l *slog.Logger) *slog.Logger { return (&Responder4{Logger: l}).logger() }},
		{"Responder6", func(l *slog.Logger) *slog.Logger { return (&Responder6{Logger: l}).logger() }},
		{"LabServer4", func(l *slog.Logger) *slog.Logger { return (&LabServer4{Logger: l}).logger() }},
		{"Allocator4", func(l *slog.Logger) *slog.Logger { return (&Allocator4{Logger: l}).logger() }},
		{"LabServer6", func(l *slog.Logger) *slog.Logger { return (&LabServer6{Logger: l}).logger() }},
		{"ProxyServer", func(l *slog.Logger) *slog.Logger { return (&ProxyServer{Logger: l}).logger() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nilLog := tt.get(nil)
			if nilLog == nil {
				t.Fatal("logger() with a nil Logger returned nil")
			}
			if nilLog.Enabled(context.Background(), slog.LevelError) {
				t.Error("logger() with a nil Logger is enabled at error level, want it to discard everything")
			}
			nilLog.Error("dropped")
			buf.Reset()
			tt.get(set).Debug("kept", "err", "x")
			if got := buf.String(); !strings.Contains(got, "msg=kept") {
				t.Errorf("logger() with a set Logger wrote %q, want the record", got)
			}
		})
	}
}
