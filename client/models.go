package client

// The request and response bodies of the API, named as in the Quatrix MFA
// API (SessionLoginPostResp is, as there, the body sent to POST
// /session/login).

// AuthType names a second factor: "2FA" (TOTP), "PIN" or "WEBAUTHN"
// (passkeys).
type AuthType string

const (
	TwoFA AuthType = "2FA"
	PIN   AuthType = "PIN"
	// Recovery is a one-time recovery code sent instead of a TOTP code at
	// the 2FA step of a login (Mfa-Code 1). It is not a factor of
	// auth_methods.
	Recovery AuthType = "RECOVERY"
	// WebAuthn is the user's passkeys (WebAuthn credentials), a second
	// factor that satisfies 2FA. It shows in auth_methods and mfa_status;
	// an admin removes a user's passkeys with UserRemoveMfaPost (or
	// UserResetMfaPost). Registering a passkey and signing in with one
	// need a web browser: mfad's web page.
	WebAuthn AuthType = "WEBAUTHN"
)

// MfaCode is the step a limited session owes, from the Mfa-Code header of a
// 207 answer. MfaNone means the session is full.
type MfaCode int

const (
	MfaNone   MfaCode = 0
	MfaTOTP   MfaCode = 1 // send a TOTP code
	MfaPIN    MfaCode = 2 // send the PIN
	MfaEnroll MfaCode = 3 // enroll 2FA: generate a secret, then send a code from it
	// MfaPasskey: the user's only second factor is a passkey, which needs
	// a web browser; a recovery code (auth_type RECOVERY) answers it too.
	MfaPasskey MfaCode = 4
)

func (c MfaCode) String() string {
	switch c {
	case MfaNone:
		return "none"
	case MfaTOTP:
		return "TOTP code"
	case MfaPIN:
		return "PIN"
	case MfaEnroll:
		return "2FA enrollment"
	case MfaPasskey:
		return "passkey"
	}
	return "unknown step"
}

// SessionLoginPostResp is the body of POST /session/login.
type SessionLoginPostResp struct {
	AuthType AuthType `json:"auth_type"`
	Code     string   `json:"code"`
}

// SessionLoginResp carries a session id.
type SessionLoginResp struct {
	SessionID string `json:"session_id"`
}

// LoginStep is the answer of a login step: a session, and what it still
// owes (MfaNone for a full session).
type LoginStep struct {
	SessionLoginResp
	MfaCode MfaCode
	// Methods are the auth_types that may answer the step owed, from the
	// Mfa-Methods header: such as [2FA WEBAUTHN RECOVERY] at MfaTOTP for a
	// user with a passkey too, or [WEBAUTHN] at MfaPasskey for a user
	// without recovery codes. It is nil when the server sent none.
	Methods []AuthType
}

// ProfileSetMfaReq is the body of POST /profile/set-mfa.
type ProfileSetMfaReq struct {
	AuthType AuthType `json:"auth_type"`
	Code     string   `json:"code"`
}

// ProfileSetMfaResp carries the caller's session id, the one session of the
// user left open.
type ProfileSetMfaResp struct {
	SessionIDs string `json:"session_ids"`
}

// ProfileRemoveMfaReq is the body of POST /profile/remove-mfa.
type ProfileRemoveMfaReq struct {
	AuthType AuthType `json:"auth_type"`
}

// ProfileRemoveMfaResp is {"status":"success"}.
type ProfileRemoveMfaResp struct {
	Status string `json:"status"`
}

// UserSetMfaReq is the body of POST /user/set-mfa. Code is the PIN for PIN
// and is ignored for 2FA.
type UserSetMfaReq struct {
	IDs      []string `json:"ids"`
	AuthType AuthType `json:"auth_type"`
	Code     string   `json:"code,omitempty"`
}

// UserRemoveMfaReq is the body of POST /user/remove-mfa.
type UserRemoveMfaReq struct {
	IDs      []string `json:"ids"`
	AuthType AuthType `json:"auth_type"`
}

// UserResetMfaReq is the body of POST /user/reset-mfa; AuthType is 2FA
// (the TOTP secret is cleared, passkeys stay) or WebAuthn (the passkeys are
// deleted, as UserRemoveMfaPost does).
type UserResetMfaReq struct {
	IDs      []string `json:"ids"`
	AuthType AuthType `json:"auth_type"`
}

// A user's status, in ProfileResp.Status and UserResp.Status.
const (
	StatusActive   = "A"
	StatusDisabled = "D" // disabled by an admin: cannot log in
)

// ProfileResp is the caller's profile.
type ProfileResp struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	SuperAdmin  string     `json:"super_admin"`
	AccountID   string     `json:"account_id"`
	Status      string     `json:"status"`
	AuthMethods []AuthType `json:"auth_methods"`
	ForcedAuth  []AuthType `json:"forced_auth"`
	// RecoveryCodesLeft counts the caller's unused recovery codes (see
	// RecoveryCodes).
	RecoveryCodesLeft int `json:"recovery_codes_left"`
}

// A factor's state, the values of UserResp.MFAStatus.
const (
	// FactorActive: the factor is on and set up (for 2FA, an
	// authenticator app holds the secret).
	FactorActive = "active"
	// FactorPendingEnrollment: 2FA is on or forced (by an admin or the
	// account) but no authenticator is set up yet; the user's next login
	// enrolls one (Mfa-Code 3). Only for 2FA.
	FactorPendingEnrollment = "pending_enrollment"
	// FactorOff: the factor is off.
	FactorOff = "off"
)

// UserResp is a user as an admin sees it. Times are Unix seconds;
// LastLogin is 0 before the first login.
type UserResp struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	SuperAdmin  string     `json:"super_admin"`
	AccountID   string     `json:"account_id"`
	Status      string     `json:"status"`
	Created     int64      `json:"created"`
	Modified    int64      `json:"modified"`
	LastLogin   int64      `json:"last_login"`
	AuthMethods []AuthType `json:"auth_methods"`
	ForcedAuth  []AuthType `json:"forced_auth"`
	// MFAStatus is each factor's true state, by factor name ("2FA",
	// "PIN", "WEBAUTHN"): FactorActive, FactorPendingEnrollment (2FA only)
	// or FactorOff. AuthMethods lists 2FA as soon as it is on or forced;
	// MFAStatus tells whether the user has set it up. A user whose 2FA is
	// on or forced and who has passkeys but no authenticator app has 2FA
	// FactorOff and WEBAUTHN FactorActive: the passkeys satisfy 2FA. Index
	// it with string(TwoFA), string(PIN) or string(WebAuthn). It is nil
	// from a server older than mfa_status, and has no WEBAUTHN from one
	// older than passkeys.
	MFAStatus map[string]string `json:"mfa_status,omitempty"`
}

// UserCreateReq is the body of POST /user/create. SuperAdmin is "Y" or "N"
// (empty means "N").
type UserCreateReq struct {
	Name       string `json:"name"`
	Email      string `json:"email"`
	Password   string `json:"password"`
	SuperAdmin string `json:"super_admin,omitempty"`
}

// IdsReq is a list of user ids.
type IdsReq struct {
	IDs []string `json:"ids"`
}

// IdsResp is a list of user ids.
type IdsResp struct {
	IDs []string `json:"ids"`
}

// UserEdit is what EditUsers changes; a nil field stays as it is, and at
// least one must be set. Email may be set only when one user is edited.
type UserEdit struct {
	Name       *string
	Email      *string
	SuperAdmin *bool // true makes the users admins ("Y"), false takes it back ("N")
	Disabled   *bool // true disables the users ("D"), false enables them ("A")
}

// The bodies of the calls that take plain arguments, as the wire has them
// (openapi.yaml: ProfileSetPasswordReq, UserEditReq, ResetRequestReq, ...).
type (
	profileSetPasswordReq struct {
		Password    string `json:"password"`     // base64
		NewPassword string `json:"new_password"` // base64
	}
	emailResp struct {
		Email string `json:"email"`
	}
	userEditReq struct {
		IDs        []string `json:"ids"`
		Name       *string  `json:"name,omitempty"`
		Email      *string  `json:"email,omitempty"`
		SuperAdmin string   `json:"super_admin,omitempty"` // "Y" or "N"
		Status     string   `json:"status,omitempty"`      // "A" or "D"
	}
	jobResp struct {
		JobID string `json:"job_id"`
	}
	resetRequestReq struct {
		Email []string `json:"email"`
	}
	resetReq struct {
		Password string `json:"password"` // plain text
	}
	idResp struct {
		ID string `json:"id"`
	}
)

// SettingsResp is the account's settings: AuthMethods holds 2FA when the
// account forces 2FA on every user.
type SettingsResp struct {
	AuthMethods []AuthType `json:"auth_methods"`
}

// SettingsSetReq is the body of POST /settings/set.
type SettingsSetReq struct {
	AuthMethods []AuthType `json:"auth_methods"`
}

// TwoFAGenerateResp is the caller's pending TOTP secret: QR is a base64 PNG
// of URI; ExpiresIn is the seconds left to confirm it with a code (until the
// secret expires or, during a login that owes enrollment, until the limited
// session does, whichever comes first).
type TwoFAGenerateResp struct {
	QR        string `json:"qr"`
	Secret    string `json:"secret"`
	URI       string `json:"uri"`
	ExpiresIn int64  `json:"expires_in"`
}

// Passkey is one of the caller's passkeys (GET /profile/passkeys). Times
// are Unix seconds; LastUsed is 0 before the first login with it.
// Transports are how the authenticator said it can be reached ("usb",
// "nfc", "ble", "hybrid", "internal"), empty when it did not say.
type Passkey struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Created    int64    `json:"created"`
	LastUsed   int64    `json:"last_used"`
	Transports []string `json:"transports"`
}

type (
	passkeysResp struct {
		Passkeys []Passkey `json:"passkeys"`
	}
	passkeyReq struct {
		ID   string  `json:"id"`
		Name *string `json:"name,omitempty"`
	}
)

// recoveryCodesResp is the answer of POST /profile/recovery-codes.
type recoveryCodesResp struct {
	Codes []string `json:"codes"`
}

// ErrorModel is the body of every error answer.
type ErrorModel struct {
	Msg     string         `json:"msg"`
	Code    int            `json:"code"`
	Details map[string]any `json:"details,omitempty"`
}
