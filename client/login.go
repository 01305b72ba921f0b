package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Prompt supplies the code for a login step: a TOTP code for MfaTOTP and
// MfaEnroll, the PIN for MfaPIN. For MfaTOTP it may also be one of the
// user's recovery codes (see RecoveryCodes): an answer that is not 6 ASCII
// digits is sent as one (auth_type RECOVERY). On MfaEnroll, enrollment
// holds the pending secret (its QR image, base32 secret and otpauth URI)
// for the user to add to an authenticator app before giving a code from
// it, and ExpiresIn the seconds left to confirm it; it is nil otherwise.
// retry counts the wrong codes already sent for this step.
//
// MfaPasskey is asked for only when the user has recovery codes (the
// server's Mfa-Methods lists RECOVERY, or sends no list): a passkey needs
// a web browser, so the answer is taken for a recovery code, and ""
// gives up (Login's error is then ErrPasskeyRequired).
type Prompt func(ctx context.Context, step MfaCode, enrollment *TwoFAGenerateResp, retry int) (string, error)

// Login runs the whole login state machine: the password, then each factor
// owed, asking prompt for every code. A wrong code is asked for again until
// the server closes the limited session or locks the email out; those, and
// an error from prompt, end the login with an error (see SessionClosed and
// LockedFor; CodeAlreadyUsed tells a code already used, which is asked for
// again like any wrong code). On success the full session is the client's
// and is returned.
//
// On Mfa-Code 3 the pending secret is fetched once (Profile2FAGenerate: the
// one already shown to the user by an earlier login, while it is pending)
// and handed to every prompt of the step, its ExpiresIn counted down by the
// local clock.
//
// On Mfa-Code 4 (MfaPasskey: the user's only second factor is a passkey)
// Login cannot answer with the passkey, which needs a web browser: it
// asks prompt for a recovery code instead, when the user has some, and
// otherwise, or when prompt answers "" or an error, ends with a
// *StepError that matches ErrPasskeyRequired (and prompt's error).
func (c *Client) Login(ctx context.Context, email, password string, prompt Prompt) (*SessionLoginResp, error) {
	step, err := c.PasswordLogin(ctx, email, password)
	if err != nil {
		return nil, err
	}
	retry := 0
	var enrollment *TwoFAGenerateResp // kept across retries of one enrollment
	var fetched time.Time             // when enrollment was fetched
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
				fetched = time.Now()
			}
		case MfaPasskey:
			authType = Recovery
			if step.Methods != nil && !slices.Contains(step.Methods, Recovery) {
				return nil, &StepError{Step: step.MfaCode, Err: fmt.Errorf("%w; the user has no recovery codes", ErrPasskeyRequired)}
			}
		default:
			return nil, &StepError{Step: step.MfaCode, Err: errors.New("the server asks for a step this client does not know")}
		}
		var shown *TwoFAGenerateResp
		if step.MfaCode == MfaEnroll {
			e := *enrollment
			e.ExpiresIn = max(e.ExpiresIn-int64(time.Since(fetched)/time.Second), 0)
			shown = &e
		}
		code, err := prompt(ctx, step.MfaCode, shown, retry)
		if err != nil && step.MfaCode == MfaPasskey && !errors.Is(err, ErrPasskeyRequired) {
			err = fmt.Errorf("%w: %w", ErrPasskeyRequired, err)
		}
		if err == nil && step.MfaCode == MfaPasskey && strings.TrimSpace(code) == "" {
			err = ErrPasskeyRequired
		}
		if err != nil {
			return nil, &StepError{Step: step.MfaCode, Err: err}
		}
		if step.MfaCode == MfaTOTP && !isTOTPCode(code) {
			authType = Recovery
		}
		next, err := c.SecondFactor(ctx, SessionLoginPostResp{AuthType: authType, Code: code})
		if errors.Is(err, ErrWrongCode) && !SessionClosed(err) && LockedFor(err) == 0 {
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

// Enroll turns 2FA on for the holder of the client's full session: it gets
// the pending secret (Profile2FAGenerate: the one pending, else a new one),
// hands it to confirm, which returns a code from it, and activates the
// secret with that code. When the code is refused the secret stays
// pending, and the next Enroll hands the same one again.
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

// isTOTPCode reports whether s has the shape of a TOTP code: 6 ASCII digits.
func isTOTPCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
