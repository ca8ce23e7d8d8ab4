// Package browsertest is a test helper: a real headless Chromium
// (Debian's chromium package) driven with chromedp, and a folder for the
// artifacts (screenshots) a browser test keeps.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pxekit/pxekit/internal/netlab"
	"github.com/pxekit/pxekit/internal/shared"
)

// Width and Height are the window the browser opens: a laptop screen.
const (
	Width  = 1280
	Height = 800
)

// New starts a fresh headless Chromium for t and returns the context of
// one tab in it, which ends with the test (or at limit). Without the
// chromium program the test is skipped, or fails when CI is set (make
// test installs it: scripts/install-deps.sh).
//
// The flags are those a root process on a machine without a network
// needs: no sandbox (root), no GPU, and nothing that calls home
// (background networking, component updates, sync, QUIC), with a new
// empty profile.
func New(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	exe := netlab.RequireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(Width, Height),
	}
	ctx, cancelTime := context.WithTimeout(context.Background(), limit)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTime()
	})
	// Start the browser now, so that a broken install fails here.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	return tab
}

// ArtifactDir returns the folder where t keeps its artifacts, made if
// needed: $PXEKIT_ARTIFACTS/<test name> when that variable is set, else
// bin/artifacts/<test name> in the repository (bin/ is not committed).
// Unlike t.TempDir, it outlives the test.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("PXEKIT_ARTIFACTS")
	if base == "" {
		root, err := shared.Root()
		if err != nil {
			t.Fatalf("browsertest: repository root: %v", err)
		}
		base = filepath.Join(root, "bin", "artifacts")
	}
	dir := filepath.Join(base, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return dir
}

// Screenshot saves a PNG of the tab's viewport at path.
func Screenshot(t testing.TB, tab context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
}
