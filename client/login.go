package client

import (
	"context"
	"errors"
	"fmt"
)

// Prompt supplies the code for a login step: a TOTP code for MfaTOTP and
// MfaEnroll, the PIN for MfaPIN. On MfaEnroll, enrollment holds the new
// secret (its QR image, base32 secret and otpauth URI) for the user to add to
// an authenticator app before giving a code from it; it is nil otherwise.
// retry counts the wrong codes already sent for this step.
type Prompt func(ctx context.Context, step MfaCode, enrollment *TwoFAGenerateResp, retry int) (string, error)

// Login runs the whole login state machine: the password, then each factor
// owed, asking prompt for every code. A wrong code is asked for again until
// the server closes the limited session or locks the email out; those, and
// an error from prompt, end the login with an error. On success the full
// session is the client's and is returned.
func (c *Client) Login(ctx context.Context, email, password string, prompt Prompt) (*SessionLoginResp, error) {
	step, err := c.PasswordLogin(ctx, email, password)
	if err != nil {
		return nil, err
	}
	retry := 0
	var enrollment *TwoFAGenerateResp // kept across retries of one enrollment
	for step.MfaCode != MfaNone {
		authType := TwoFA
		switch step.MfaCode {
		case MfaTOTP:
		case MfaPIN:
			authType = PIN
		case MfaEnroll:
			if enrollment == nil {
				if enrollment, err = c.Profile2FAGenerate(ctx); err != nil {
					return nil, &StepError{Step: step.MfaCode, Err: err}
				}
			}
		default:
			return nil, &StepError{Step: step.MfaCode, Err: errors.New("the server asks for a step this client does not know")}
		}
		shown := enrollment
		if step.MfaCode != MfaEnroll {
			shown = nil
		}
		code, err := prompt(ctx, step.MfaCode, shown, retry)
		if err != nil {
			return nil, &StepError{Step: step.MfaCode, Err: err}
		}
		next, err := c.SecondFactor(ctx, SessionLoginPostResp{AuthType: authType, Code: code})
		if errors.Is(err, ErrWrongCode) && !SessionClosed(err) {
			retry++
			continue
		}
		if err != nil {
			return nil, &StepError{Step: step.MfaCode, Err: err}
		}
		step, retry = next, 0
	}
	return &step.SessionLoginResp, nil
}

// Enroll turns 2FA on for the holder of the client's full session: it makes
// a new secret, hands it to confirm, which returns a code from it, and
// activates the secret with that code.
func (c *Client) Enroll(ctx context.Context, confirm func(ctx context.Context, secret *TwoFAGenerateResp) (string, error)) error {
	secret, err := c.Profile2FAGenerate(ctx)
	if err != nil {
		return err
	}
	code, err := confirm(ctx, secret)
	if err != nil {
		return fmt.Errorf("mfad: enrollment: %w", err)
	}
	_, err = c.ProfileSetMfaPost(ctx, ProfileSetMfaReq{AuthType: TwoFA, Code: code})
	return err
}

// SessionClosed reports whether err says the server closed the limited
// session (after too many wrong codes): the login must start again.
func SessionClosed(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) && ae.Details != nil {
		closed, _ := ae.Details["session_closed"].(bool)
		return closed
	}
	return false
}
