package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mfad/mfad/totp"
)

// maxURLUsers bounds --users with --url: every user costs the server
// argon2id hashes (creation, login, enrollment), so seeding through the
// API takes seconds per hundred users.
const maxURLUsers = 5000

// apiClient talks to a running server for seeding.
type apiClient struct {
	http *http.Client
	api  string
}

type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// do sends a request and decodes a JSON answer into out; a status other
// than want is an *apiError.
func (c *apiClient) do(ctx context.Context, method, path, token string, basic [2]string, body any, want int, out any, hdr *http.Header) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := newReq(ctx, method, c.api+path, b)
	if b == nil {
		req.Header.Del("Content-Type")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if basic[0] != "" {
		req.SetBasicAuth(basic[0], basic[1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return &apiError{res.StatusCode, strings.TrimSpace(string(data))}
	}
	if hdr != nil {
		*hdr = res.Header
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

type sessionAnswer struct {
	SessionID string `json:"session_id"`
}

func (c *apiClient) login(ctx context.Context, email, password string, want int) (string, error) {
	var s sessionAnswer
	err := c.do(ctx, "GET", "/session/login", "", [2]string{email, password}, nil, want, &s, nil)
	return s.SessionID, err
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if stop || i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// seedThroughAPI creates n users in the admin's account through the API,
// with the same mix as the database seeding: the first ones are the admin
// calls' targets; of the others 80% enroll TOTP, 10% TOTP and a PIN, 10%
// no factor. It returns the fixture (without the baseline URL).
func seedThroughAPI(ctx context.Context, c *apiClient, p *population, n int, adminEmail, adminPassword string, progress func(string)) (*fixture, error) {
	admin, err := c.login(ctx, adminEmail, adminPassword, 200)
	if err != nil {
		return nil, fmt.Errorf("--url: admin login as %s (the admin must owe no second factor): %w", adminEmail, err)
	}
	f := &fixture{api: c.api, adminToken: admin}
	ids := make([]string, n)
	secrets := make([]string, n)
	lasts := make([]int64, n)
	tokens := make([]string, n)
	start := time.Now()
	err = parallel(ctx, n, 8, func(ctx context.Context, i int) error {
		var u struct {
			ID string `json:"id"`
		}
		email := p.email(i)
		if err := c.do(ctx, "POST", "/user/create", admin, [2]string{}, map[string]any{
			"name": fmt.Sprintf("Bench User %d", i), "email": email, "password": benchPassword,
		}, 200, &u, nil); err != nil {
			return fmt.Errorf("create user %s: %w", email, err)
		}
		ids[i] = u.ID
		k := p.kind(i)
		if k == kindBulk {
			return nil
		}
		tok, err := c.login(ctx, email, benchPassword, 200)
		if err != nil {
			return fmt.Errorf("login %s: %w", email, err)
		}
		tokens[i] = tok
		if k == kindTOTP || k == kindTOTPPIN {
			var g struct {
				Secret string `json:"secret"`
			}
			if err := c.do(ctx, "GET", "/profile/2fa/generate", tok, [2]string{}, nil, 200, &g, nil); err != nil {
				return fmt.Errorf("2fa generate for %s: %w", email, err)
			}
			step := totp.StepAt(time.Now())
			code, err := totp.CodeAt(g.Secret, step)
			if err != nil {
				return err
			}
			if err := c.do(ctx, "POST", "/profile/set-mfa", tok, [2]string{}, map[string]string{"auth_type": "2FA", "code": code}, 200, nil, nil); err != nil {
				return fmt.Errorf("enroll 2FA for %s: %w", email, err)
			}
			secrets[i], lasts[i] = g.Secret, step
		}
		if k == kindTOTPPIN {
			if err := c.do(ctx, "POST", "/profile/set-mfa", tok, [2]string{}, map[string]string{"auth_type": "PIN", "code": benchPIN}, 200, nil, nil); err != nil {
				return fmt.Errorf("set PIN for %s: %w", email, err)
			}
		}
		if i%200 == 0 {
			progress(fmt.Sprintf("seeding through the API: user %d of %d (%s)", i, n, time.Since(start).Round(time.Second)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pool := &totpPool{perUser: 1}
	for i := 0; i < n; i++ {
		switch p.kind(i) {
		case kindBulk:
			f.bulkIDs = append(f.bulkIDs, ids[i])
		case kindTOTP:
			pool.users = append(pool.users, &poolUser{id: ids[i], email: p.email(i), secret: secrets[i], last: lasts[i]})
		case kindPassword:
			f.pwEmails = append(f.pwEmails, p.email(i))
		}
		if tokens[i] != "" {
			f.fullTokens = append(f.fullTokens, tokens[i])
		}
	}
	// A limited session through the API is a password login: argon2id on
	// the server for each one.
	pool.make = func(ctx context.Context, users []*poolUser) ([]string, error) {
		out := make([]string, len(users))
		err := parallel(ctx, len(users), 8, func(ctx context.Context, i int) error {
			tok, err := c.login(ctx, users[i].email, benchPassword, http.StatusMultiStatus)
			out[i] = tok
			return err
		})
		return out, err
	}
	f.pool = pool
	return f, nil
}
