package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/mfad/mfad"
)

// Passkeys (WebAuthn credentials) as a second factor. The ceremonies are
// the go-webauthn library's: mfad never parses attestation or checks an
// assertion itself. It keeps the library's state of a ceremony (its
// session data) in the store, for the session that began it, used once and
// for CeremonyLifetime at most; and the library's credential record with
// each passkey, whose signature counter a login updates in the step's
// transaction.

// CeremonyLifetime is how long a registration or a login ceremony may take.
const CeremonyLifetime = 5 * time.Minute

// MaxPasskeyName bounds a passkey's name, in characters.
const MaxPasskeyName = 64

var (
	errPasskeysOff = mfad.Errorf(mfad.CodePasskeysOff, "passkeys are off: the server has no --public-url (the relying party of passkeys)")
	errNoPasskey   = mfad.Errorf(mfad.CodePasskeyNotFound, "no such passkey")
)

func passkeyFailed(format string, args ...any) error {
	return mfad.Errorf(mfad.CodePasskeyFailed, format, args...)
}

// SetRelyingParty turns passkeys on, for the web page at publicURL: its host
// is the relying party id and its origin the one origin whose ceremonies are
// accepted. name is shown by authenticators.
func (s *Service) SetRelyingParty(publicURL *url.URL, name string) error {
	origin := publicURL.Scheme + "://" + publicURL.Host
	w, err := webauthn.New(&webauthn.Config{
		RPID:          publicURL.Hostname(),
		RPDisplayName: name,
		RPOrigins:     []string{origin},
		// The server's own clock enforces CeremonyLifetime (the challenge's
		// expiry); these are what the browser is told.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyLifetime, TimeoutUVD: CeremonyLifetime},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyLifetime, TimeoutUVD: CeremonyLifetime},
		},
	})
	if err != nil {
		return fmt.Errorf("passkeys: relying party %s: %w", origin, err)
	}
	s.webauthn = w
	return nil
}

// PasskeysOn reports whether passkeys are available.
func (s *Service) PasskeysOn() bool { return s.webauthn != nil }

// waUser is a user as the library sees it: the user handle is the user's
// id (a random UUID, no personal data).
type waUser struct {
	u     *mfad.User
	creds []webauthn.Credential
	keys  []*mfad.Passkey // creds[i] is keys[i]'s record
}

func (w *waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Email }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (s *Service) waUser(ctx context.Context, u *mfad.User) (*waUser, error) {
	keys, err := s.store.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	w := &waUser{u: u, keys: keys}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Record, &c); err != nil {
			return nil, fmt.Errorf("passkey %s of user %s: %w", k.ID, u.ID, err)
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// putCeremony keeps the library's session data for the session of id.
func (s *Service) putCeremony(ctx context.Context, id *Identity, kind string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	return s.store.PutChallenge(ctx, &mfad.Challenge{SessionHash: id.Session.Hash, Kind: kind, Data: data, Expires: s.now().Add(CeremonyLifetime)})
}

// takeCeremony takes the session's ceremony of kind (once); nil when there
// is none, it expired, or it is another kind.
func (s *Service) takeCeremony(ctx context.Context, id *Identity, kind string) (*webauthn.SessionData, error) {
	c, err := s.store.TakeChallenge(ctx, id.Session.Hash, kind, s.now())
	if errors.Is(err, mfad.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return nil, fmt.Errorf("ceremony of a session: %w", err)
	}
	return &sd, nil
}

// BeginPasskeyRegistration starts registering a passkey for the holder of a
// full session: the options for navigator.credentials.create(), as JSON.
// The user's passkeys are excluded (an authenticator registers once).
func (s *Service) BeginPasskeyRegistration(ctx context.Context, id *Identity) (json.RawMessage, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	if id.User.Passkeys >= mfad.MaxPasskeys {
		return nil, passkeyFailed("a user may have %d passkeys at most: delete one first", mfad.MaxPasskeys)
	}
	w, err := s.waUser(ctx, id.User)
	if err != nil {
		return nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := s.webauthn.BeginRegistration(w,
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := s.putCeremony(ctx, id, mfad.ChallengeRegister, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishPasskeyRegistration checks the browser's answer to the options of
// BeginPasskeyRegistration (the PublicKeyCredential as JSON) and stores the
// passkey under name. The ceremony is used up whatever the outcome.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, id *Identity, name string, credential []byte) (*mfad.Passkey, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	name, err := passkeyName(name)
	if err != nil {
		return nil, err
	}
	sd, err := s.takeCeremony(ctx, id, mfad.ChallengeRegister)
	if err != nil {
		return nil, err
	}
	if sd == nil {
		return nil, passkeyFailed("no registration in progress for this session, or it took over %s: start again", CeremonyLifetime)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, passkeyFailed("credential: %s", protocolText(err))
	}
	w, err := s.waUser(ctx, id.User)
	if err != nil {
		return nil, err
	}
	cred, err := s.webauthn.CreateCredential(w, *sd, parsed)
	if err != nil {
		return nil, passkeyFailed("the authenticator's answer was refused: %s", protocolText(err))
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	now := s.now()
	p := &mfad.Passkey{ID: uuid.NewString(), UserID: id.User.ID, CredentialID: cred.ID, Name: name, Record: record,
		SignCount: cred.Authenticator.SignCount, Created: now}
	switch err := s.store.AddPasskey(ctx, p); {
	case errors.Is(err, mfad.ErrConflict):
		return nil, passkeyFailed("this passkey is registered already")
	case errors.Is(err, mfad.ErrTooMany):
		return nil, passkeyFailed("a user may have %d passkeys at most: delete one first", mfad.MaxPasskeys)
	case err != nil:
		return nil, err
	}
	s.audit(ctx, event{name: mfad.EventPasskeyAdded, user: id.User, detail: fmt.Sprintf("%q", name)})
	return p, nil
}

// passkeyName checks a passkey's name: 1 to MaxPasskeyName characters, no
// control characters; surrounding spaces are dropped.
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyName {
		return "", mfad.Errorf(mfad.CodeInvalid, "name: 1 to %d characters", MaxPasskeyName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", mfad.Errorf(mfad.CodeInvalid, "name: no control characters")
		}
	}
	return name, nil
}

// protocolText is what a library error may show to the client: its short
// text, never the details (which may hold the client's data).
func protocolText(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return "not a valid WebAuthn answer"
}

// Passkeys lists the caller's passkeys, with their transports.
func (s *Service) Passkeys(ctx context.Context, id *Identity) ([]*mfad.Passkey, error) {
	keys, err := s.store.Passkeys(ctx, id.User.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		var c webauthn.Credential
		if json.Unmarshal(k.Record, &c) == nil {
			k.Transports = []string{}
			for _, t := range c.Transport {
				k.Transports = append(k.Transports, string(t))
			}
		}
	}
	return keys, nil
}

// RenamePasskey names one of the caller's passkeys.
func (s *Service) RenamePasskey(ctx context.Context, id *Identity, passkeyID, name string) error {
	name, err := passkeyName(name)
	if err != nil {
		return err
	}
	if err := s.store.RenamePasskey(ctx, id.User.ID, passkeyID, name, s.now()); errors.Is(err, mfad.ErrNotFound) {
		return errNoPasskey
	} else if err != nil {
		return err
	}
	return nil
}

// DeletePasskey deletes one of the caller's passkeys. The last one may go:
// the login then owes what the user's other factors owe (2FA enrollment
// when 2FA is on or forced).
func (s *Service) DeletePasskey(ctx context.Context, id *Identity, passkeyID string) error {
	if err := s.store.DeletePasskey(ctx, id.User.ID, passkeyID, s.now()); errors.Is(err, mfad.ErrNotFound) {
		return errNoPasskey
	} else if err != nil {
		return err
	}
	s.audit(ctx, event{name: mfad.EventPasskeyRemoved, user: id.User, detail: "by the user"})
	return nil
}

// BeginPasskeyLogin starts the passkey assertion of a limited session that
// owes the 2FA step (Mfa-Code 1 or 4): the options for
// navigator.credentials.get(), limited to the user's passkeys.
func (s *Service) BeginPasskeyLogin(ctx context.Context, id *Identity) (json.RawMessage, error) {
	if s.webauthn == nil {
		return nil, errPasskeysOff
	}
	se := id.Session
	if se.Kind != mfad.SessionLimited || (se.Step != mfad.StepTOTP && se.Step != mfad.StepPasskey) {
		return nil, mfad.Errorf(mfad.CodeWrongAuthType, "a passkey answers the 2FA step of a login (Mfa-Code 1 or 4) only")
	}
	w, err := s.waUser(ctx, id.User)
	if err != nil {
		return nil, err
	}
	if len(w.creds) == 0 {
		return nil, mfad.Errorf(mfad.CodeWrongAuthType, "this user has no passkey")
	}
	assertion, sd, err := s.webauthn.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	if err := s.putCeremony(ctx, id, mfad.ChallengeLogin, sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// evaluatePasskey checks a passkey assertion at the login step of id: the
// ceremony of the session (used up here), then the library's checks (the
// challenge, the origin, the relying party, the signature, user presence,
// the counter). A counter that did not move forward (a cloned
// authenticator, by the library's rule) is refused and audited.
func (s *Service) evaluatePasskey(ctx context.Context, id *Identity, assertion string, adv *advance) (bool, error) {
	if s.webauthn == nil {
		return false, nil
	}
	sd, err := s.takeCeremony(ctx, id, mfad.ChallengeLogin)
	if err != nil || sd == nil {
		return false, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(assertion))
	if err != nil {
		return false, nil
	}
	w, err := s.waUser(ctx, id.User)
	if err != nil {
		return false, err
	}
	cred, err := s.webauthn.ValidateLogin(w, *sd, parsed)
	if err != nil {
		return false, nil
	}
	var key *mfad.Passkey
	for i, c := range w.creds {
		if bytes.Equal(c.ID, cred.ID) {
			key = w.keys[i]
		}
	}
	if key == nil {
		return false, nil
	}
	if cred.Authenticator.CloneWarning {
		// The signature is right but the counter did not move: two copies
		// of the key are in use. Neither can be told from the other, so
		// the passkey is removed; the user signs in with another factor
		// or a recovery code and registers a new one.
		err := s.store.DeletePasskey(ctx, id.User.ID, key.ID, s.now())
		if err != nil && !errors.Is(err, mfad.ErrNotFound) {
			return false, err
		}
		s.audit(ctx, event{name: mfad.EventPasskeyCloned, failure: true, user: id.User,
			detail: fmt.Sprintf("passkey %q: signature counter %d after %d; the passkey is removed", key.Name, parsed.Response.AuthenticatorData.Counter, key.SignCount)})
		return false, nil
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return false, err
	}
	adv.Passkey = &mfad.PasskeyUse{ID: key.ID, OldCount: key.SignCount, NewCount: cred.Authenticator.SignCount, Record: record}
	adv.passkeyName = key.Name
	return true, nil
}
