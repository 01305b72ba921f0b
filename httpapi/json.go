package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// ErrorModel is the body of every error response.
type ErrorModel struct {
	Msg     string         `json:"msg"`
	Code    int            `json:"code"`
	Details map[string]any `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are encoded; this cannot happen.
		status, body = http.StatusInternalServerError, []byte(`{"msg":"internal error","code":0}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// writeEmpty answers 200 with a zero-byte body.
func writeEmpty(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// statusOf is the HTTP status of an application code: its row in
// mfad.Codes.
func statusOf(c mfad.Code) int { return c.Status() }

// writeError answers err as an ErrorModel. An error that is not an
// *mfad.Error is logged and answered without its text: it may hold SQL or a
// file path.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *mfad.Error
	if !errors.As(err, &e) {
		switch {
		case errors.Is(err, mfad.ErrUnavailable):
			logFor(r).ErrorContext(r.Context(), "database unavailable", "err", err)
			e = &mfad.Error{Code: mfad.CodeUnavailable, Msg: "database unavailable, try again shortly", RetryAfter: time.Second}
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			e = &mfad.Error{Code: mfad.CodeUnavailable, Msg: "request cancelled or timed out", RetryAfter: time.Second}
		default:
			logFor(r).ErrorContext(r.Context(), "internal error", "err", err)
			e = &mfad.Error{Code: mfad.CodeInternal, Msg: "internal error"}
		}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	writeJSON(w, statusOf(e.Code), ErrorModel{Msg: e.Msg, Code: int(e.Code), Details: e.Details})
}

// logFor is the request's logger, with its request id.
func logFor(r *http.Request) *slog.Logger { return auth.Logger(r.Context()) }

func badJSON(format string, args ...any) error {
	return mfad.Errorf(mfad.CodeBadJSON, format, args...)
}

func invalid(format string, args ...any) error {
	return mfad.Errorf(mfad.CodeInvalid, format, args...)
}

// decode reads a JSON request body into v: the Content-Type must be JSON (or
// absent), the body at most MaxBody bytes, one JSON value with nothing after
// it. Member names match the struct's json tags exactly, case included: a
// name spelled otherwise ("Code", "AUTH_TYPE", "idſ") is an unknown member,
// and unknown members are ignored. A name given twice in one object, or a
// string that is not UTF-8, is refused. This is the decoder of
// github.com/go-json-experiment/json (Go's encoding/json/v2) with its
// default options; encoding/json (v1) folds case and keeps the last of two
// equal names, so a proxy that inspects a body would read another request
// than the one mfad acts on.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
			return mfad.Errorf(mfad.CodeMediaType, "Content-Type must be application/json")
		}
	}
	// The body gets the whole read timeout from now on: the token check
	// before it may have waited for the database, and a request that
	// waited must not then fail as unreadable. A slow body is still cut
	// off, ReadTimeout after this point.
	if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(ReadTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return badJSON("cannot read request body")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mfad.Errorf(mfad.CodeTooLarge, "request body over %d bytes", MaxBody)
		}
		return badJSON("cannot read request body")
	}
	return decodeJSON(body, v)
}

// decodeJSON is decode's parsing half: exactly one JSON value in body, into v.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badJSON("request body is empty; a JSON object is required")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if err := jsonv2.UnmarshalDecode(dec, v); err != nil {
		return jsonErr(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return badJSON("unexpected data after the JSON value")
	}
	return nil
}

// jsonErr turns a decoding error into the client's 400. Its message names
// the member by its JSON pointer, which holds only names the request
// declares (an unknown member is skipped before its value is typed) or, for
// a name given twice, the name the client sent.
func jsonErr(err error) error {
	var se *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &syn) && errors.Is(err, jsontext.ErrDuplicateName):
		return badJSON("member %s: given twice", fieldName(syn.JSONPointer))
	case errors.As(err, &syn) && strings.Contains(syn.Err.Error(), "invalid UTF-8"):
		return badJSON("request body is not valid UTF-8")
	case errors.As(err, &se) && se.JSONPointer == "":
		return badJSON("request body must be a JSON object")
	case errors.As(err, &se):
		return badJSON("field %s: wrong JSON type %s", fieldName(se.JSONPointer), kindName(se.JSONKind))
	}
	return badJSON("request body is not valid JSON")
}

// pointerUnescape undoes a JSON pointer token's escapes (RFC 6901).
var pointerUnescape = strings.NewReplacer("~1", "/", "~0", "~")

// fieldName spells a JSON pointer as a client reads it: "/ids/2" is ids[2].
// It is cut at 64 bytes: a duplicate name is the client's own text.
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for i, tok := range strings.Split(strings.TrimPrefix(string(p), "/"), "/") {
		tok = pointerUnescape.Replace(tok)
		if _, err := strconv.Atoi(tok); err == nil && i > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	name := b.String()
	if len(name) > 64 {
		name = strings.ToValidUTF8(name[:64], "") + "…"
	}
	return name
}

// kindName names a JSON kind as the client wrote it.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// ---- field validation

func required[T any](name string, p *T) (T, error) {
	if p == nil {
		var zero T
		return zero, invalid("%s: required", name)
	}
	return *p, nil
}

func authType(name string, p *string, allowed ...mfad.AuthType) (mfad.AuthType, error) {
	s, err := required(name, p)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if mfad.AuthType(s) == a {
			return a, nil
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(string(a))
	}
	return "", invalid("%s: must be %s", name, strings.Join(quoted, " or "))
}

// MaxIDs is the most ids one admin request may carry.
const MaxIDs = 1000

func parseIDs(p *[]string) ([]string, error) {
	ids, err := required("ids", p)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > MaxIDs {
		return nil, invalid("ids: 1 to %d user ids", MaxIDs)
	}
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for i, s := range ids {
		id, ok := mfad.ParseUUID(s)
		if !ok {
			return nil, invalid("ids[%d]: not a UUID", i)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}
