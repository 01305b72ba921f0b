package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/mfad/mfad/client"
)

// said is an error put in people's words; it keeps the error it words, for
// the exit status.
type said struct {
	msg string
	err error
}

func (e said) Error() string { return e.msg }
func (e said) Unwrap() error { return e.err }

// apiCode is the server's ErrorModel code in err, or -1.
func apiCode(err error) int {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return -1
}

// worded returns err in words for people, when it is an error whose own
// text is not: a network failure, an answer that is not mfad's, or a
// server message that names the API's fields or paths. Others are
// returned as they are (message words those).
func (a *app) worded(err error) error {
	var s said
	if err == nil || errors.As(err, &s) {
		return err
	}
	server := strings.TrimRight(a.server, "/")
	if errors.Is(err, context.Canceled) {
		return said{"interrupted", err}
	}
	if msg, ok := unreachable(err); ok {
		if msg == "timeout" {
			msg = fmt.Sprintf("timeout (no answer within %s; see --timeout)", a.timeout)
		}
		return said{fmt.Sprintf("cannot reach mfad at %s: %s", server, msg), err}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return said{fmt.Sprintf("the answer from %s is not one mfad sends: is it an mfad server?", server), err}
	}
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case -1: // not an ErrorModel: a proxy's page, another server
		return said{fmt.Sprintf("%s answered %d %s, not as mfad answers: is it an mfad server?", server, ae.Status, ae.Msg), err}
	case client.CodeNotFound, client.CodeMethod:
		return said{fmt.Sprintf("%s does not know this request (%d %s): is it an mfad server, and as new as this mfactl?", server, ae.Status, ae.Msg), err}
	case client.CodeInvalid:
		if strings.HasSuffix(ae.Msg, ": at least one is required") { // user edit with nothing to change
			return said{"nothing to change: give --name, --new-email or --admin", err}
		}
	case client.CodeFactorRequired:
		return said{`the saved session has not finished its login; run "mfactl login"`, err}
	case client.CodeUnknownUsers:
		return said{"one or more of the user ids given are not users of your account; nothing was changed", err}
	case client.CodeUserNotFound:
		return said{"no such user in your account", err}
	case client.CodePasskeysOff:
		return said{"passkeys are off on this server: it has no public URL (mfad serve --public-url)", err}
	case client.CodePasskeyNotFound:
		return said{"you have no passkey with that id; \"mfactl passkeys\" lists yours", err}
	case client.CodeWrongAuthType:
		return said{wantedFactors(ae.Msg), err}
	case client.CodeEnrollment:
		if isNoPending(err) {
			return said{"the 2FA secret shown expired before a code for it was sent; start again for a new one", err}
		}
	}
	return err
}

// quoted finds the factors a server message names in quotes.
var quoted = regexp.MustCompile(`"([A-Z0-9]+)"`)

// wantedFactors words the server's answer to a factor sent for a login
// step that owes another ("this login step owes auth_type "PIN" (Mfa-Code
// 2)").
func wantedFactors(msg string) string {
	var wants []string
	for _, m := range quoted.FindAllStringSubmatch(msg, -1) {
		switch client.AuthType(m[1]) {
		case client.TwoFA:
			wants = append(wants, "a code from an authenticator app")
		case client.PIN:
			wants = append(wants, "the PIN")
		case client.Recovery:
			wants = append(wants, "a recovery code")
		case client.WebAuthn:
			wants = append(wants, "a passkey (on mfad's web page)")
		}
	}
	if len(wants) == 0 {
		return "this login step owes another factor; run \"mfactl login\" again"
	}
	return "this login step wants " + strings.Join(wants, " or ") + "; run \"mfactl login\" again"
}

// unreachable reports whether err is a failure to talk to the server, and
// its cause in a few words: "connection refused", "no such host",
// "timeout", "TLS certificate problem: ...".
func unreachable(err error) (string, bool) {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "", false
	}
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return "no such host", true
	case ue.Timeout() || errors.Is(err, context.DeadlineExceeded):
		return "timeout", true
	case errors.As(err, &dns):
		return "cannot look up the host name", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host", true
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable", true
	case errors.As(err, &unknownCA):
		return "TLS certificate problem: signed by an unknown authority", true
	case errors.As(err, &host):
		return fmt.Sprintf("TLS certificate problem: not valid for %s", host.Host), true
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "TLS certificate problem: expired or not yet valid", true
		}
		return "TLS certificate problem: " + invalid.Error(), true
	case errors.As(err, &verify):
		return "TLS certificate problem: " + verify.Err.Error(), true
	case errors.As(err, &record), strings.Contains(ue.Err.Error(), "server gave HTTP response to HTTPS client"):
		return "no TLS on the other end (try http://)", true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed before an answer", true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error(), true
	}
	return ue.Err.Error(), true
}
