// Package client is the Go SDK of mfad: the six MFA operations of the
// Quatrix API under their Quatrix names (SessionLoginPost, ProfileSetMfaPost,
// ...), the supporting endpoints, and Login, which runs the whole login state
// machine asking a callback for each code owed.
//
// Every call takes a context. Errors are values: an *APIError with the HTTP
// status and the server's ErrorModel, matching sentinels such as
// ErrUnauthorized, ErrForbidden and ErrLockedOut through errors.Is.
package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BasePath is the API prefix on the server.
const BasePath = "/api/1.0"

// Client talks to one mfad server. It is safe for concurrent use; the
// session id it sends is shared by all calls.
type Client struct {
	base    *url.URL
	http    *http.Client
	retries int
	backoff time.Duration

	mu    sync.RWMutex
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (its Timeout, Transport, ...).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithTimeout sets the timeout of each HTTP request (default 30 s).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		h := *c.http
		h.Timeout = d
		c.http = &h
	}
}

// WithRetries sets how many times a safe request is retried after a network
// error or a 503 (default 2), waiting backoff, then twice as long, ...
// Only requests that change nothing are retried: never a login step, never
// a POST.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// WithSession starts the client with a session id.
func WithSession(id string) Option { return func(c *Client) { c.token = id } }

// New returns a client for the server at baseURL (such as
// "http://127.0.0.1:8080"; a trailing /api/1.0 is accepted).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mfad: base URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, BasePath)
	c := &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}, retries: 2, backoff: 200 * time.Millisecond}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// SessionID returns the session id the client sends.
func (c *Client) SessionID() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// SetSessionID sets the session id the client sends ("" for none).
func (c *Client) SetSessionID(id string) {
	c.mu.Lock()
	c.token = id
	c.mu.Unlock()
}

// call is one request. body nil sends none; out nil discards the answer.
type call struct {
	method, path string
	body         any
	out          any
	basic        *[2]string
	noToken      bool // send no X-Auth-Token (the calls for people without a session)
	safe         bool // may be retried
}

// do runs a call and returns the HTTP status and headers of a 2xx answer.
func (c *Client) do(ctx context.Context, k call) (int, http.Header, error) {
	var payload []byte
	if k.body != nil {
		var err error
		if payload, err = json.Marshal(k.body); err != nil {
			return 0, nil, fmt.Errorf("mfad: encode request: %w", err)
		}
	}
	attempts := 1
	if k.safe {
		attempts += max(c.retries, 0)
	}
	wait := c.backoff
	var lastErr error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, nil, ctx.Err()
			case <-t.C:
			}
			wait *= 2
		}
		status, header, err := c.once(ctx, k, payload)
		if err == nil {
			return status, header, nil
		}
		lastErr = err
		var apiErr *APIError
		if ctx.Err() != nil || (errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable) {
			break
		}
	}
	return 0, nil, lastErr
}

func (c *Client) once(ctx context.Context, k call, payload []byte) (int, http.Header, error) {
	// k.path is already escaped (ids go through url.PathEscape).
	target := strings.TrimRight(c.base.String(), "/") + k.path
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, target, body)
	if err != nil {
		return 0, nil, fmt.Errorf("mfad: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if k.basic != nil {
		req.SetBasicAuth(k.basic[0], k.basic[1])
	} else if tok := c.SessionID(); tok != "" && !k.noToken {
		req.Header.Set("X-Auth-Token", tok)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("mfad: %s %s: %w", k.method, k.path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("mfad: %s %s: read answer: %w", k.method, k.path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return 0, nil, apiError(res, data)
	}
	if k.out != nil {
		if err := json.Unmarshal(data, k.out); err != nil {
			return 0, nil, fmt.Errorf("mfad: %s %s: decode answer: %w", k.method, k.path, err)
		}
	}
	return res.StatusCode, res.Header, nil
}

func apiError(res *http.Response, data []byte) *APIError {
	e := &APIError{Status: res.StatusCode, Code: -1}
	var m ErrorModel
	if json.Unmarshal(data, &m) == nil && m.Msg != "" {
		e.Code, e.Msg, e.Details = m.Code, m.Msg, m.Details
	} else {
		e.Msg = http.StatusText(res.StatusCode)
	}
	if s := res.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// fetch runs k and decodes its answer into a new T.
func fetch[T any](ctx context.Context, c *Client, k call) (*T, error) {
	var resp T
	k.out = &resp
	if _, _, err := c.do(ctx, k); err != nil {
		return nil, err
	}
	return &resp, nil
}

// loginStep reads a 200 or 207 login answer.
func loginStep(status int, header http.Header, resp SessionLoginResp) (*LoginStep, error) {
	step := &LoginStep{SessionLoginResp: resp}
	if status == http.StatusMultiStatus {
		n, err := strconv.Atoi(header.Get("Mfa-Code"))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("mfad: 207 answer without a valid Mfa-Code header")
		}
		step.MfaCode = MfaCode(n)
		for m := range strings.SplitSeq(header.Get("Mfa-Methods"), ",") {
			if m = strings.TrimSpace(m); m != "" {
				step.Methods = append(step.Methods, AuthType(m))
			}
		}
	}
	return step, nil
}

// ---- session

// SessionLoginGet is the password step (GET /session/login with Basic). A
// full session is returned and used by the client from then on. When a
// factor is owed the error is an *MFARequiredError holding the limited
// session (which the client also uses from then on) and the step.
func (c *Client) SessionLoginGet(ctx context.Context, email, password string) (*SessionLoginResp, error) {
	step, err := c.PasswordLogin(ctx, email, password)
	if err != nil {
		return nil, err
	}
	if step.MfaCode != MfaNone {
		return nil, &MFARequiredError{Step: step.MfaCode, SessionID: step.SessionID}
	}
	return &step.SessionLoginResp, nil
}

// PasswordLogin is the password step; the answer says what is still owed.
// The session returned, full or limited, becomes the client's.
func (c *Client) PasswordLogin(ctx context.Context, email, password string) (*LoginStep, error) {
	var resp SessionLoginResp
	status, header, err := c.do(ctx, call{method: "GET", path: BasePath + "/session/login", out: &resp, basic: &[2]string{email, password}})
	if err != nil {
		return nil, err
	}
	step, err := loginStep(status, header, resp)
	if err != nil {
		return nil, err
	}
	c.SetSessionID(step.SessionID)
	return step, nil
}

// SessionLoginPost sends the code for the step the client's limited session
// owes (POST /session/login). The session returned becomes the client's.
// When another factor is still owed the error is an *MFARequiredError.
func (c *Client) SessionLoginPost(ctx context.Context, body SessionLoginPostResp) (*SessionLoginResp, error) {
	step, err := c.SecondFactor(ctx, body)
	if err != nil {
		return nil, err
	}
	if step.MfaCode != MfaNone {
		return nil, &MFARequiredError{Step: step.MfaCode, SessionID: step.SessionID}
	}
	return &step.SessionLoginResp, nil
}

// SecondFactor is SessionLoginPost answering with the step that follows.
func (c *Client) SecondFactor(ctx context.Context, body SessionLoginPostResp) (*LoginStep, error) {
	var resp SessionLoginResp
	status, header, err := c.do(ctx, call{method: "POST", path: BasePath + "/session/login", body: body, out: &resp})
	if err != nil {
		return nil, err
	}
	step, err := loginStep(status, header, resp)
	if err != nil {
		return nil, err
	}
	c.SetSessionID(step.SessionID)
	return step, nil
}

// SessionCheck is GET /session/login with the client's full session: it
// answers with that session's id when it is valid.
func (c *Client) SessionCheck(ctx context.Context) (*SessionLoginResp, error) {
	var resp SessionLoginResp
	_, _, err := c.do(ctx, call{method: "GET", path: BasePath + "/session/login", out: &resp, safe: true})
	if err != nil {
		return nil, err
	}
	return &resp, nil
}

// SessionKeepalive pushes the session's idle timeout forward.
func (c *Client) SessionKeepalive(ctx context.Context) error {
	_, _, err := c.do(ctx, call{method: "GET", path: BasePath + "/session/keepalive", safe: true})
	return err
}

// SessionLogout closes the client's session and forgets it.
func (c *Client) SessionLogout(ctx context.Context) error {
	_, _, err := c.do(ctx, call{method: "GET", path: BasePath + "/session/logout"})
	if err == nil {
		c.SetSessionID("")
	}
	return err
}

// ---- profile

// Profile is GET /profile.
func (c *Client) Profile(ctx context.Context) (*ProfileResp, error) {
	return fetch[ProfileResp](ctx, c, call{method: "GET", path: BasePath + "/profile", safe: true})
}

// Profile2FAGenerate returns the caller's pending TOTP secret (GET
// /profile/2fa/generate): the same one on every call while it is pending,
// so that a secret already added to an authenticator app stays good, and a
// new one when none is pending (none made yet, confirmed, or expired).
// ExpiresIn says how long is left to confirm it. It works with a full
// session or with a limited one that owes enrollment (Mfa-Code 3). It may
// make a secret, so it is never retried.
func (c *Client) Profile2FAGenerate(ctx context.Context) (*TwoFAGenerateResp, error) {
	return fetch[TwoFAGenerateResp](ctx, c, call{method: "GET", path: BasePath + "/profile/2fa/generate"})
}

// Profile2FAGenerateNew makes a new pending TOTP secret for the caller,
// replacing the pending one (GET /profile/2fa/generate?new=1): for when the
// secret shown was lost before it was added to an authenticator app. It is
// never retried.
func (c *Client) Profile2FAGenerateNew(ctx context.Context) (*TwoFAGenerateResp, error) {
	return fetch[TwoFAGenerateResp](ctx, c, call{method: "GET", path: BasePath + "/profile/2fa/generate?new=1"})
}

// RecoveryCodes makes 10 new one-time recovery codes for the caller (POST
// /profile/recovery-codes), such as "7KQ4-M2XD-9TFA-H3PQ", and returns
// them. The server keeps only their hashes: this is the one time they are
// shown. The new set replaces any earlier one, whose codes stop working at
// once (ProfileResp.RecoveryCodesLeft counts the codes left). At the 2FA
// step of a login (Mfa-Code 1) a code stands in for the TOTP code, once:
// send it with auth_type Recovery. Removing 2FA deletes the codes. It
// needs a full session, and is never retried (a second request would void
// the codes of the first).
func (c *Client) RecoveryCodes(ctx context.Context) ([]string, error) {
	resp, err := fetch[recoveryCodesResp](ctx, c, call{method: "POST", path: BasePath + "/profile/recovery-codes"})
	if err != nil {
		return nil, err
	}
	return resp.Codes, nil
}

// Passkeys lists the caller's passkeys (GET /profile/passkeys), oldest
// first. Registering one needs a web browser (WebAuthn): mfad's web page,
// on its Security page.
func (c *Client) Passkeys(ctx context.Context) ([]Passkey, error) {
	resp, err := fetch[passkeysResp](ctx, c, call{method: "GET", path: BasePath + "/profile/passkeys", safe: true})
	if err != nil {
		return nil, err
	}
	if resp.Passkeys == nil {
		resp.Passkeys = []Passkey{}
	}
	return resp.Passkeys, nil
}

// RenamePasskey names one of the caller's passkeys (POST
// /profile/passkeys/rename): 1 to 64 characters, no control characters
// (ErrInvalid otherwise). An id that is not one of the caller's passkeys
// is ErrPasskeyNotFound.
func (c *Client) RenamePasskey(ctx context.Context, id, name string) error {
	_, _, err := c.do(ctx, call{method: "POST", path: BasePath + "/profile/passkeys/rename", body: passkeyReq{ID: id, Name: &name}})
	return err
}

// DeletePasskey deletes one of the caller's passkeys (POST
// /profile/passkeys/delete); an id that is not one of them is
// ErrPasskeyNotFound. The last one may go: logins then owe what the
// user's other factors owe.
func (c *Client) DeletePasskey(ctx context.Context, id string) error {
	_, _, err := c.do(ctx, call{method: "POST", path: BasePath + "/profile/passkeys/delete", body: passkeyReq{ID: id}})
	return err
}

// ProfileSetMfaPost turns a factor on for the caller: 2FA with a code from
// the pending secret, PIN with the new PIN. Every other session of the user
// is closed.
func (c *Client) ProfileSetMfaPost(ctx context.Context, body ProfileSetMfaReq) (*ProfileSetMfaResp, error) {
	return fetch[ProfileSetMfaResp](ctx, c, call{method: "POST", path: BasePath + "/profile/set-mfa", body: body})
}

// ProfileRemoveMfaPost turns a factor off for the caller unless it is forced.
func (c *Client) ProfileRemoveMfaPost(ctx context.Context, body ProfileRemoveMfaReq) (*ProfileRemoveMfaResp, error) {
	return fetch[ProfileRemoveMfaResp](ctx, c, call{method: "POST", path: BasePath + "/profile/remove-mfa", body: body})
}

// SetPassword changes the caller's password (POST /profile/set-password)
// and returns the caller's email. Both passwords are sent base64-encoded,
// as the server wants them. A wrong current password is ErrWrongPassword
// and counts toward the lockout like a wrong password at login; a new
// password that breaks the password policy is ErrInvalid. Every other
// session of the user is closed; the client's stays valid.
func (c *Client) SetPassword(ctx context.Context, current, newPassword string) (string, error) {
	body := profileSetPasswordReq{
		Password:    base64.StdEncoding.EncodeToString([]byte(current)),
		NewPassword: base64.StdEncoding.EncodeToString([]byte(newPassword)),
	}
	resp, err := fetch[emailResp](ctx, c, call{method: "POST", path: BasePath + "/profile/set-password", body: body})
	if err != nil {
		return "", err
	}
	return resp.Email, nil
}

// ---- password reset (no session)

// RequestPasswordReset asks the server to mail a reset link to email (POST
// /reset-password/request). The answer is the same whether a user has the
// email or not: a nil error says only that the request was taken. The link
// points at the server's web page and holds the reset id that
// PasswordResetValid and ResetPassword take. A server without mail answers
// ErrMailOff.
func (c *Client) RequestPasswordReset(ctx context.Context, email string) error {
	_, _, err := c.do(ctx, call{method: "POST", path: BasePath + "/reset-password/request", body: resetRequestReq{Email: []string{email}}, noToken: true})
	return err
}

// PasswordResetValid reports whether a mailed reset id can still be used
// (GET /reset-password/metadata/{id}): nil if so, ErrResetNotFound when it
// is unknown, used, replaced by a newer one or expired. It is never
// retried: a lookup that finds nothing counts against the client address's
// limit.
func (c *Client) PasswordResetValid(ctx context.Context, id string) error {
	_, _, err := c.do(ctx, call{method: "GET", path: BasePath + "/reset-password/metadata/" + url.PathEscape(id), noToken: true})
	return err
}

// ResetPassword sets a new password with a mailed reset id (POST
// /reset-password/reset/{id}) and returns the user's id. The id works
// once: afterwards, and for unknown or expired ids, the error is
// ErrResetNotFound. A password that breaks the policy is ErrInvalid and
// leaves the id valid. Every session of the user is closed; their second
// factors stay.
func (c *Client) ResetPassword(ctx context.Context, id, newPassword string) (string, error) {
	resp, err := fetch[idResp](ctx, c, call{method: "POST", path: BasePath + "/reset-password/reset/" + url.PathEscape(id), body: resetReq{Password: newPassword}, noToken: true})
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// ---- admin

// UserSetMfaPost turns a factor on, forced, for users of the admin's account.
func (c *Client) UserSetMfaPost(ctx context.Context, body UserSetMfaReq) (*ProfileRemoveMfaResp, error) {
	return c.status(ctx, "/user/set-mfa", body)
}

// UserRemoveMfaPost turns a factor off for users of the admin's account;
// with WebAuthn it deletes every passkey of theirs and closes their
// sessions.
func (c *Client) UserRemoveMfaPost(ctx context.Context, body UserRemoveMfaReq) (*ProfileRemoveMfaResp, error) {
	return c.status(ctx, "/user/remove-mfa", body)
}

// UserResetMfaPost clears users' TOTP secrets (AuthType TwoFA; their
// passkeys stay), or deletes their passkeys (WebAuthn); they enroll again
// at their next login when 2FA is on and nothing else satisfies it.
func (c *Client) UserResetMfaPost(ctx context.Context, body UserResetMfaReq) (*ProfileRemoveMfaResp, error) {
	return c.status(ctx, "/user/reset-mfa", body)
}

func (c *Client) status(ctx context.Context, path string, body any) (*ProfileRemoveMfaResp, error) {
	return fetch[ProfileRemoveMfaResp](ctx, c, call{method: "POST", path: BasePath + path, body: body})
}

// UserCreate makes a user in the admin's account.
func (c *Client) UserCreate(ctx context.Context, body UserCreateReq) (*UserResp, error) {
	return fetch[UserResp](ctx, c, call{method: "POST", path: BasePath + "/user/create", body: body})
}

// Users lists the users of the admin's account.
func (c *Client) Users(ctx context.Context) ([]UserResp, error) {
	var resp []UserResp
	if _, _, err := c.do(ctx, call{method: "GET", path: BasePath + "/user", out: &resp, safe: true}); err != nil {
		return nil, err
	}
	return resp, nil
}

// UserMetadata returns one user of the admin's account.
func (c *Client) UserMetadata(ctx context.Context, id string) (*UserResp, error) {
	return fetch[UserResp](ctx, c, call{method: "GET", path: BasePath + "/user/metadata/" + url.PathEscape(id), safe: true})
}

// UserDelete removes users of the admin's account.
func (c *Client) UserDelete(ctx context.Context, body IdsReq) (*IdsResp, error) {
	return fetch[IdsResp](ctx, c, call{method: "POST", path: BasePath + "/user/delete", body: body})
}

// EditUsers changes users of the admin's account (POST /user/edit): all of
// them or none. edit.Email may be set only with exactly one id. Disabling
// closes the users' sessions and makes their logins fail as a wrong
// password would; an admin cannot demote or disable their own user. The
// change is committed when EditUsers returns; the job id is the one the
// server answers with, kept for the Quatrix clients that expect a job.
func (c *Client) EditUsers(ctx context.Context, ids []string, edit UserEdit) (string, error) {
	body := userEditReq{IDs: ids, Name: edit.Name, Email: edit.Email}
	if body.IDs == nil {
		body.IDs = []string{}
	}
	if edit.SuperAdmin != nil {
		body.SuperAdmin = "N"
		if *edit.SuperAdmin {
			body.SuperAdmin = "Y"
		}
	}
	if edit.Disabled != nil {
		body.Status = StatusActive
		if *edit.Disabled {
			body.Status = StatusDisabled
		}
	}
	resp, err := fetch[jobResp](ctx, c, call{method: "POST", path: BasePath + "/user/edit", body: body})
	if err != nil {
		return "", err
	}
	return resp.JobID, nil
}

// UnlockUsers lifts the lockout of users of the admin's account (POST
// /user/unlock): the failed attempts counted on their emails are cleared.
func (c *Client) UnlockUsers(ctx context.Context, ids []string) error {
	if ids == nil {
		ids = []string{}
	}
	_, err := c.status(ctx, "/user/unlock", IdsReq{IDs: ids})
	return err
}

// UserByEmail finds the user of the admin's account who has email, among
// Users. Emails are compared ignoring the case of ASCII letters only (and
// white space around email), as the server tells identities apart, so at
// most one user matches; other characters must match exactly. When no
// user has the email the error is a *UserNotFoundError, which matches
// ErrNotFound.
func (c *Client) UserByEmail(ctx context.Context, email string) (*UserResp, error) {
	users, err := c.Users(ctx)
	if err != nil {
		return nil, err
	}
	want := strings.TrimSpace(email)
	for i := range users {
		if equalFoldASCII(users[i].Email, want) {
			return &users[i], nil
		}
	}
	return nil, &UserNotFoundError{Email: email}
}

// equalFoldASCII reports whether a and b are equal once the ASCII letters
// A-Z are made lower case; every other byte must be equal.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Settings returns the account's settings.
func (c *Client) Settings(ctx context.Context) (*SettingsResp, error) {
	return fetch[SettingsResp](ctx, c, call{method: "GET", path: BasePath + "/settings", safe: true})
}

// SettingsSet changes the account's settings. A nil AuthMethods is sent as
// [] (no account-wide factor).
func (c *Client) SettingsSet(ctx context.Context, body SettingsSetReq) (*SettingsResp, error) {
	if body.AuthMethods == nil {
		body.AuthMethods = []AuthType{}
	}
	return fetch[SettingsResp](ctx, c, call{method: "POST", path: BasePath + "/settings/set", body: body})
}

// Healthz reports whether the server can reach its database.
func (c *Client) Healthz(ctx context.Context) error {
	_, _, err := c.do(ctx, call{method: "GET", path: "/healthz", safe: true})
	return err
}
