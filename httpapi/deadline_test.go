package httpapi

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A request that waited in the server (for the database, during the token
// check) longer than the read timeout still has its body read: the body
// gets the read timeout from the moment it is read. The body is larger than
// what the server reads ahead with the headers (an admin call's 1,000 ids).
func TestBodyReadAfterSlowTokenCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	srv := &http.Server{ReadTimeout: timeout, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * timeout) // the token check, waiting for the database
		var v struct {
			A string `json:"a"`
		}
		if err := decode(&statusRecorder{ResponseWriter: w}, r, &v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write([]byte(v.A))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	res, err := http.Post("http://"+ln.Addr().String(), "application/json", strings.NewReader(`{"a":"read","pad":"`+strings.Repeat("x", 40<<10)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || string(b) != "read" {
		t.Fatalf("status %d body %q, want 200 %q", res.StatusCode, b, "read")
	}
}
