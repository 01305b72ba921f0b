package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

// Passkeys (docs/api.md, "Passkeys"): the two WebAuthn ceremonies, each a
// pair of requests (the options for the browser, then its answer), and the
// list of a user's passkeys.

type passkeyResp struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Created    int64    `json:"created"`
	LastUsed   int64    `json:"last_used"`
	Transports []string `json:"transports"`
}

type passkeysResp struct {
	Passkeys []passkeyResp `json:"passkeys"`
}

func toPasskey(p *mfad.Passkey) passkeyResp {
	tr := p.Transports
	if tr == nil {
		tr = []string{}
	}
	return passkeyResp{ID: p.ID, Name: p.Name, Created: unix(p.Created), LastUsed: unix(p.LastUsed), Transports: tr}
}

// writeRaw answers 200 with JSON the service made (the library's options).
func writeRaw(w http.ResponseWriter, body []byte) {
	writeJSON(w, http.StatusOK, json.RawMessage(body))
}

// handlePasskeyLoginOptions is POST /session/login/passkey: the options of
// a passkey assertion for the limited session's 2FA step.
func (s *Server) handlePasskeyLoginOptions(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	opts, err := s.svc.BeginPasskeyLogin(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeRaw(w, opts)
}

func (s *Server) handlePasskeys(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	keys, err := s.svc.Passkeys(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := passkeysResp{Passkeys: []passkeyResp{}}
	for _, k := range keys {
		out.Passkeys = append(out.Passkeys, toPasskey(k))
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePasskeyOptions is POST /profile/passkeys/options: the options of a
// registration, for navigator.credentials.create().
func (s *Server) handlePasskeyOptions(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	opts, err := s.svc.BeginPasskeyRegistration(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeRaw(w, opts)
}

type passkeyAddReq struct {
	Name       *string        `json:"name"`
	Credential jsontext.Value `json:"credential,omitempty"`
}

// handlePasskeyAdd is POST /profile/passkeys: the browser's answer to the
// options, stored as a passkey named name.
func (s *Server) handlePasskeyAdd(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req passkeyAddReq
	err := decode(w, r, &req)
	var name string
	if err == nil {
		name, err = required("name", req.Name)
	}
	if err == nil && (len(req.Credential) == 0 || req.Credential.Kind() != '{') {
		err = invalid("credential: the answer of navigator.credentials.create() (a PublicKeyCredential as JSON) is required")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := s.svc.FinishPasskeyRegistration(r.Context(), id, name, req.Credential)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toPasskey(p))
}

type passkeyReq struct {
	ID   *string `json:"id"`
	Name *string `json:"name"`
}

func decodePasskeyID(w http.ResponseWriter, r *http.Request, req *passkeyReq) (string, error) {
	if err := decode(w, r, req); err != nil {
		return "", err
	}
	v, err := required("id", req.ID)
	if err != nil {
		return "", err
	}
	idv, ok := mfad.ParseUUID(v)
	if !ok {
		return "", invalid("id: not a passkey id (a UUID)")
	}
	return idv, nil
}

func (s *Server) handlePasskeyRename(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req passkeyReq
	pid, err := decodePasskeyID(w, r, &req)
	var name string
	if err == nil {
		name, err = required("name", req.Name)
	}
	if err == nil {
		err = s.svc.RenamePasskey(r.Context(), id, pid, name)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

func (s *Server) handlePasskeyDelete(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req passkeyReq
	pid, err := decodePasskeyID(w, r, &req)
	if err == nil {
		err = s.svc.DeletePasskey(r.Context(), id, pid)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}
