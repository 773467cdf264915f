package chat_test

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstream/capstream/internal/devserver"
	"github.com/capstream/capstream/internal/testwasm"
)

func TestMain(m *testing.M) { testwasm.Main(m, false) }

// TestBrowser runs browser.test.mjs: the demo page in real Chromium, driven
// by playwright-core, against `capstream serve --dev` built from this tree.
// It needs node, Debian's chromium (or $CHROMIUM) and `npm ci --prefix
// examples/chat`; without them it skips, except under CI=true, where it
// fails. Screenshots go to $ARTIFACTS_DIR, or testdata/artifacts.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	chromium := cmp.Or(os.Getenv("CHROMIUM"), "/usr/bin/chromium")
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (Node.js 20 or later)")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	if _, err := os.Stat("node_modules/playwright-core/package.json"); err != nil {
		missing = append(missing, "playwright-core (npm ci --prefix examples/chat)")
	}
	if len(missing) > 0 {
		msg := "the browser test needs " + strings.Join(missing, ", ")
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg + "; under CI it must run, not skip")
		}
		t.Skip(msg)
	}
	artifacts, err := filepath.Abs(cmp.Or(os.Getenv("ARTIFACTS_DIR"), filepath.Join("testdata", "artifacts")))
	if err != nil {
		t.Fatal(err)
	}

	url := devserver.Start(t).URL + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "browser.test.mjs", url)
	cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node browser.test.mjs %s: %v\n%s", url, err, out)
	}
	t.Logf("%s", out)
	t.Logf("screenshots in %s", artifacts)
}
