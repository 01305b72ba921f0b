// Package webauthntest is a software authenticator for tests: it answers
// the options of mfad's passkey ceremonies as a browser with a security
// key would (the "none" attestation, an ECDSA P-256 key, a signature
// counter), so that the server's use of the WebAuthn library can be tested
// over HTTP without a browser. It checks nothing: the server does. The
// browser tests use Chromium's own virtual authenticator instead.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator holds one credential.
type Authenticator struct {
	Origin  string // the origin the browser reports (clientDataJSON)
	RPID    string // the relying party id the credential is bound to
	Counter uint32 // the signature counter; each assertion adds one first

	key    *ecdsa.PrivateKey
	credID []byte
	user   []byte // the user handle of the registration
}

// New returns an authenticator for the page at origin, whose relying party
// id is rpID.
func New(origin, rpID string) *Authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &Authenticator{Origin: origin, RPID: rpID, key: key, credID: id}
}

var b64 = base64.RawURLEncoding

// CredentialID is the credential's id, base64url.
func (a *Authenticator) CredentialID() string { return b64.EncodeToString(a.credID) }

type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// Challenge returns the challenge of options (base64url).
func Challenge(optionsJSON []byte) (string, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return "", err
	}
	if o.PublicKey.Challenge == "" {
		return "", fmt.Errorf("no challenge in %s", optionsJSON)
	}
	return o.PublicKey.Challenge, nil
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data: the relying party's hash, the flags
// (user present and verified), the counter, and attested (the credential
// data of a registration) if any.
func (a *Authenticator) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	out := append([]byte{}, h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	return append(out, attested...)
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

// Create answers registration options (the JSON mfad returns) with a
// PublicKeyCredential as JSON.
func (a *Authenticator) Create(optionsJSON []byte) ([]byte, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, err
	}
	if user, err := b64.DecodeString(o.PublicKey.User.ID); err == nil {
		a.user = user
	}
	return a.CreateFor(o.PublicKey.Challenge)
}

// CreateFor answers a registration with challenge (base64url).
func (a *Authenticator) CreateFor(challenge string) ([]byte, error) {
	pub, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	x, y := pub[1:33], pub[33:65]
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y}) // EC2, ES256, P-256
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.credID)))
	attested = append(attested, a.credID...)
	attested = append(attested, cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(flagUP|flagUV|flagAT, attested)})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": a.CredentialID(), "rawId": a.CredentialID(), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"usb"},
		},
	})
}

// Get answers login options with an assertion (a PublicKeyCredential as
// JSON), the counter one up.
func (a *Authenticator) Get(optionsJSON []byte) ([]byte, error) {
	c, err := Challenge(optionsJSON)
	if err != nil {
		return nil, err
	}
	return a.GetFor(c)
}

// GetFor answers a login with challenge (base64url), the counter one up.
func (a *Authenticator) GetFor(challenge string) ([]byte, error) {
	a.Counter++
	data := a.authData(flagUP|flagUV, nil)
	cd := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	sum := sha256.Sum256(append(append([]byte{}, data...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, sum[:])
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(data),
		"signature":         b64.EncodeToString(sig),
	}
	if a.user != nil {
		resp["userHandle"] = b64.EncodeToString(a.user)
	}
	return json.Marshal(map[string]any{"id": a.CredentialID(), "rawId": a.CredentialID(), "type": "public-key", "response": resp})
}
