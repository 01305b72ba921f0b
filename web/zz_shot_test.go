package web_test

import (
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/mfad/mfad/internal/testserver"
)

func TestZZShot(t *testing.T) {
	b := startBrowser(t)
	srv := testserver.Start(t, testserver.Options{})
	createUser(t, srv, "Alice Example", "alice@example.com", "alice-password")
	p := newPage(t, b, srv)
	p.open()
	p.signIn("alice@example.com", "alice-password")
	p.waitView("security")
	p.click("sec-2fa-enable")
	p.waitView("enroll")
	p.waitFor("qr", `() => { const i = document.getElementById('enroll-qr'); return !i.hidden && i.complete && i.naturalWidth > 0; }`)
	eval[chromedp.Void](p, `document.activeElement.blur()`)
	h := eval[int](p, `document.documentElement.scrollHeight`)
	t.Logf("height %d", h)
	ctx := p.ctx
	img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("../docs/enrollment.png", img, 0o644); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) {
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile("/tmp/shot-"+name+".png", img, 0o644)
	}
	p.click("enroll-cancel")
	p.waitView("security")
	shot("security")
	p.signOut()
	p.signIn(testserver.AdminEmail, testserver.AdminPassword)
	p.waitView("security")
	p.click("nav-users")
	p.waitView("users")
	p.click("users-all")
	p.click("act-force-pin")
	shot("users")
	p.click("users-apply")
	p.waitMessage("PIN")
	shot("users-err")
}
