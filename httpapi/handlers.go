package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"github.com/mfad/mfad"
	"github.com/mfad/mfad/auth"
)

// ---- authentication

// access decides whether an authenticated caller may use a route.
type access func(*auth.Identity) error

var (
	anySession      = func(*auth.Identity) error { return nil }
	full            = auth.RequireFull
	limitedOnly     = auth.RequireLimited
	fullOrEnrolling = auth.RequireFullOrEnrolling
)

type authedHandler func(w http.ResponseWriter, r *http.Request, id *auth.Identity)

// authed resolves the X-Auth-Token header, applies the access rule, then
// calls h.
func (s *Server) authed(may access, h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.identify(r)
		if err == nil {
			err = may(id)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r, id)
	})
}

type adminHandler func(w http.ResponseWriter, r *http.Request, a auth.Admin)

// admin resolves the X-Auth-Token header and calls h only for a full
// session of an admin; others get 401 or 403 before their body is read. The
// service checks again: its admin operations take the auth.Admin that only
// auth.RequireAdmin makes.
func (s *Server) admin(h adminHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.identify(r)
		var a auth.Admin
		if err == nil {
			a, err = auth.RequireAdmin(id)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r, a)
	})
}

// identify resolves the X-Auth-Token header. More than one such header is
// refused like an unknown session, whichever of them is valid.
func (s *Server) identify(r *http.Request) (*auth.Identity, error) {
	vals := r.Header.Values("X-Auth-Token")
	if len(vals) != 1 {
		return nil, mfad.Errorf(mfad.CodeUnauthenticated, "missing, unknown, closed or expired session")
	}
	return s.svc.Authenticate(r.Context(), vals[0])
}

// ---- models

type sessionResp struct {
	SessionID string `json:"session_id"`
}

type statusResp struct {
	Status string `json:"status"`
}

var success = statusResp{Status: "success"}

type profileResp struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	SuperAdmin  string   `json:"super_admin"`
	AccountID   string   `json:"account_id"`
	Status      string   `json:"status"`
	AuthMethods []string `json:"auth_methods"`
	ForcedAuth  []string `json:"forced_auth"`
}

// ownProfileResp is GET /profile: the profile and the caller's recovery
// codes left.
type ownProfileResp struct {
	profileResp
	RecoveryCodesLeft int `json:"recovery_codes_left"`
}

type userResp struct {
	profileResp
	MFAStatus map[string]string `json:"mfa_status"`
	Created   int64             `json:"created"`
	Modified  int64             `json:"modified"`
	LastLogin int64             `json:"last_login"`
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func toProfile(u *mfad.User, a *mfad.Account) profileResp {
	methods, forced := auth.Methods(u, a)
	return profileResp{ID: u.ID, Name: u.Name, Email: u.Email, SuperAdmin: yn(u.SuperAdmin), AccountID: u.AccountID,
		Status: u.Status(), AuthMethods: methods, ForcedAuth: forced}
}

func toUser(u *mfad.User, a *mfad.Account) userResp {
	return userResp{profileResp: toProfile(u, a), MFAStatus: auth.MFAStatus(u, a),
		Created: unix(u.Created), Modified: unix(u.Modified), LastLogin: unix(u.LastLogin)}
}

// ---- session

func (s *Server) writeLogin(w http.ResponseWriter, res auth.LoginResult) {
	if res.Step == mfad.StepNone {
		writeJSON(w, http.StatusOK, sessionResp{SessionID: res.Token})
		return
	}
	w.Header().Set("Mfa-Code", strconv.Itoa(int(res.Step)))
	if len(res.Methods) > 0 {
		w.Header().Set("Mfa-Methods", strings.Join(res.Methods, ", "))
	}
	writeJSON(w, http.StatusMultiStatus, sessionResp{SessionID: res.Token})
}

// handlePasswordLogin is GET /session/login: Basic credentials start a login;
// a full X-Auth-Token (and no Basic) answers with that session's id. A
// request with more than one Authorization header gets the answer of wrong
// credentials: which one a proxy in front checked is unknowable, so neither
// is tried.
func (s *Server) handlePasswordLogin(w http.ResponseWriter, r *http.Request) {
	if auths := r.Header.Values("Authorization"); len(auths) > 1 || (len(auths) == 1 && auths[0] != "") {
		email, password, ok := r.BasicAuth()
		if !ok || len(auths) > 1 {
			writeError(w, r, mfad.Errorf(mfad.CodeBadCredentials, "wrong email or password"))
			return
		}
		res, err := s.svc.PasswordLogin(r.Context(), email, password, clientAddr(r))
		if err != nil {
			writeError(w, r, err)
			return
		}
		s.writeLogin(w, res)
		return
	}
	id, err := s.identify(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.svc.TokenLogin(id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeLogin(w, res)
}

type factorReq struct {
	AuthType   *string        `json:"auth_type"`
	Code       *string        `json:"code"`
	Credential jsontext.Value `json:"credential,omitempty"` // WEBAUTHN: the PublicKeyCredential of the assertion
}

// handleSecondFactor is POST /session/login. Every rejected request counts
// against the limited session and the user's lockout.
func (s *Server) handleSecondFactor(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req factorReq
	t, code, err := func() (mfad.AuthType, string, error) {
		if err := decode(w, r, &req); err != nil {
			return "", "", err
		}
		t, err := authType("auth_type", req.AuthType, mfad.AuthTOTP, mfad.AuthPIN, mfad.AuthRecovery, mfad.AuthWebAuthn)
		if err != nil {
			return "", "", err
		}
		if t == mfad.AuthWebAuthn {
			if len(req.Credential) == 0 || req.Credential.Kind() != '{' {
				return "", "", invalid("credential: the passkey's answer (a PublicKeyCredential as JSON) is required for WEBAUTHN")
			}
			return t, string(req.Credential), nil
		}
		code, err := required("code", req.Code)
		if err == nil && code == "" {
			err = invalid("code: must not be empty")
		}
		return t, code, err
	}()
	if err != nil {
		if ferr := s.svc.FailStep(r.Context(), id); ferr != nil {
			err = ferr
		}
		writeError(w, r, err)
		return
	}
	res, err := s.svc.SecondFactor(r.Context(), id, t, code)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeLogin(w, res)
}

func (s *Server) handleKeepalive(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	if err := s.svc.Keepalive(r.Context(), id); err != nil {
		writeError(w, r, err)
		return
	}
	writeEmpty(w)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	if err := s.svc.Logout(r.Context(), id); err != nil {
		writeError(w, r, err)
		return
	}
	writeEmpty(w)
}

// ---- profile

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	a, err := s.svc.Account(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	left, err := s.svc.RecoveryCodesLeft(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ownProfileResp{profileResp: toProfile(id.User, a), RecoveryCodesLeft: left})
}

type generateResp struct {
	QR        string `json:"qr"`
	Secret    string `json:"secret"`
	URI       string `json:"uri"`
	ExpiresIn int64  `json:"expires_in"`
}

// handleGenerate2FA is GET /profile/2fa/generate: the pending secret,
// the same one while it is pending; ?new=1 asks for a new one.
func (s *Server) handleGenerate2FA(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var fresh bool
	switch v := r.URL.Query().Get("new"); v {
	case "", "0", "false":
	case "1", "true":
		fresh = true
	default:
		writeError(w, r, invalid(`new: must be "1" or "0"`))
		return
	}
	e, err := s.svc.Generate2FA(r.Context(), id, fresh)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, generateResp{QR: base64.StdEncoding.EncodeToString(e.PNG), Secret: e.Secret, URI: e.URI,
		ExpiresIn: int64(e.Left.Round(time.Second) / time.Second)})
}

type recoveryResp struct {
	Codes []string `json:"codes"`
}

// handleRecoveryCodes is POST /profile/recovery-codes: a new set, shown
// this once. The request has no body.
func (s *Server) handleRecoveryCodes(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	codes, err := s.svc.GenerateRecoveryCodes(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recoveryResp{Codes: codes})
}

type setMFAResp struct {
	SessionIDs string `json:"session_ids"`
}

func (s *Server) handleProfileSetMFA(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req factorReq
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	t, err := authType("auth_type", req.AuthType, mfad.AuthTOTP, mfad.AuthPIN)
	if err != nil {
		writeError(w, r, err)
		return
	}
	code, err := required("code", req.Code)
	if err != nil {
		writeError(w, r, err)
		return
	}
	token, err := s.svc.SetMFA(r.Context(), id, t, code)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, setMFAResp{SessionIDs: token})
}

type removeReq struct {
	AuthType *string `json:"auth_type"`
}

func (s *Server) handleProfileRemoveMFA(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req removeReq
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	t, err := authType("auth_type", req.AuthType, mfad.AuthTOTP, mfad.AuthPIN)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.svc.RemoveMFA(r.Context(), id, t); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

// ---- admin: users' factors

type setPasswordReq struct {
	Password    *string `json:"password"`
	NewPassword *string `json:"new_password"`
}

type emailResp struct {
	Email string `json:"email"`
}

// handleSetPassword is POST /profile/set-password: both passwords come
// base64-encoded, as the Quatrix clients send them.
func (s *Server) handleSetPassword(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req setPasswordReq
	err := decode(w, r, &req)
	var current, next string
	if err == nil {
		current, err = base64Text("password", req.Password)
	}
	if err == nil {
		next, err = base64Text("new_password", req.NewPassword)
	}
	var email string
	if err == nil {
		email, err = s.svc.SetPassword(r.Context(), id, current, next)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, emailResp{Email: email})
}

// base64Text reads a required base64 field (with or without padding).
func base64Text(name string, p *string) (string, error) {
	v, err := required(name, p)
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(v); err != nil {
			return "", invalid("%s: not base64", name)
		}
	}
	return string(b), nil
}

type usersMFAReq struct {
	IDs      *[]string `json:"ids"`
	AuthType *string   `json:"auth_type"`
	Code     *string   `json:"code"`
}

// decodeUsersMFA decodes and validates an admin bulk request.
func decodeUsersMFA(w http.ResponseWriter, r *http.Request, allowed ...mfad.AuthType) ([]string, mfad.AuthType, *string, error) {
	var req usersMFAReq
	if err := decode(w, r, &req); err != nil {
		return nil, "", nil, err
	}
	ids, err := parseIDs(req.IDs)
	if err != nil {
		return nil, "", nil, err
	}
	t, err := authType("auth_type", req.AuthType, allowed...)
	if err != nil {
		return nil, "", nil, err
	}
	return ids, t, req.Code, nil
}

func (s *Server) handleUserSetMFA(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	ids, t, code, err := decodeUsersMFA(w, r, mfad.AuthTOTP, mfad.AuthPIN)
	if err == nil && t == mfad.AuthPIN && code == nil {
		err = invalid("code: required for PIN")
	}
	if err == nil {
		pin := ""
		if t == mfad.AuthPIN {
			pin = *code
		}
		err = s.svc.AdminSetMFA(r.Context(), a, ids, t, pin)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

func (s *Server) handleUserRemoveMFA(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	ids, t, _, err := decodeUsersMFA(w, r, mfad.AuthTOTP, mfad.AuthPIN, mfad.AuthWebAuthn)
	if err == nil {
		err = s.svc.AdminRemoveMFA(r.Context(), a, ids, t)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

func (s *Server) handleUserResetMFA(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	ids, t, _, err := decodeUsersMFA(w, r, mfad.AuthTOTP, mfad.AuthWebAuthn)
	if err == nil {
		err = s.svc.AdminResetMFA(r.Context(), a, ids, t)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

// ---- admin: users

type userCreateReq struct {
	Name       *string `json:"name"`
	Email      *string `json:"email"`
	Password   *string `json:"password"`
	SuperAdmin *string `json:"super_admin"`
}

func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	var req userCreateReq
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	var n auth.NewUser
	var err error
	if n.Name, err = required("name", req.Name); err == nil {
		if n.Email, err = required("email", req.Email); err == nil {
			n.Password, err = required("password", req.Password)
		}
	}
	if err == nil && req.SuperAdmin != nil {
		switch *req.SuperAdmin {
		case "Y":
			n.SuperAdmin = true
		case "N":
		default:
			err = invalid(`super_admin: must be "Y" or "N"`)
		}
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err := s.svc.CreateUser(r.Context(), a, n)
	s.writeUser(w, r, a.Identity(), u, err)
}

// writeUser answers with u as a UserResp, or with err.
func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, id *auth.Identity, u *mfad.User, err error) {
	var a *mfad.Account
	if err == nil {
		a, err = s.svc.Account(r.Context(), id)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUser(u, a))
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	users, err := s.svc.Users(r.Context(), a)
	if err != nil {
		writeError(w, r, err)
		return
	}
	acct, err := s.svc.Account(r.Context(), a.Identity())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]userResp, len(users))
	for i, u := range users {
		out[i] = toUser(u, acct)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	uid, ok := mfad.ParseUUID(r.PathValue("id"))
	if !ok {
		writeError(w, r, invalid("id: not a UUID"))
		return
	}
	u, err := s.svc.User(r.Context(), a, uid)
	s.writeUser(w, r, a.Identity(), u, err)
}

type idsReq struct {
	IDs *[]string `json:"ids"`
}

type idsResp struct {
	IDs []string `json:"ids"`
}

// decodeIDs decodes and validates a body that holds only ids.
func decodeIDs(w http.ResponseWriter, r *http.Request) ([]string, error) {
	var req idsReq
	if err := decode(w, r, &req); err != nil {
		return nil, err
	}
	return parseIDs(req.IDs)
}

func (s *Server) handleUserDelete(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	ids, err := decodeIDs(w, r)
	if err == nil {
		err = s.svc.DeleteUsers(r.Context(), a, ids)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, idsResp{IDs: ids})
}

type userEditReq struct {
	IDs        *[]string `json:"ids"`
	Name       *string   `json:"name"`
	Email      *string   `json:"email"`
	SuperAdmin *string   `json:"super_admin"`
	Status     *string   `json:"status"`
}

type jobResp struct {
	JobID string `json:"job_id"`
}

// handleUserEdit is POST /user/edit: the change is committed before the
// answer; the job id is for the Quatrix clients, which expect a job.
func (s *Server) handleUserEdit(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	var req userEditReq
	err := decode(w, r, &req)
	var ids []string
	if err == nil {
		ids, err = parseIDs(req.IDs)
	}
	e := mfad.UserEdit{Name: req.Name, Email: req.Email}
	if err == nil && req.SuperAdmin != nil {
		e.SuperAdmin, err = yesNo("super_admin", *req.SuperAdmin)
	}
	if err == nil && req.Status != nil {
		switch *req.Status {
		case mfad.StatusActive:
			e.Disabled = new(bool)
		case mfad.StatusDisabled:
			e.Disabled = new(bool)
			*e.Disabled = true
		default:
			err = invalid(`status: must be "A" or "D"`)
		}
	}
	if err == nil {
		err = s.svc.AdminEditUsers(r.Context(), a, ids, e)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jobResp{JobID: uuid.NewString()})
}

// yesNo reads a "Y"/"N" field.
func yesNo(name, v string) (*bool, error) {
	switch v {
	case "Y":
		t := true
		return &t, nil
	case "N":
		return new(bool), nil
	}
	return nil, invalid(`%s: must be "Y" or "N"`, name)
}

func (s *Server) handleUserUnlock(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	ids, err := decodeIDs(w, r)
	if err == nil {
		err = s.svc.AdminUnlock(r.Context(), a, ids)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

// ---- password reset (no token)

type resetRequestReq struct {
	Email *[]string `json:"email"`
}

type resetRequestResp struct {
	Email []string `json:"email"`
}

// handleResetRequest is POST /reset-password/request: always 200 with the
// email sent, whether a user has it or not (the mail goes out in the
// background).
func (s *Server) handleResetRequest(w http.ResponseWriter, r *http.Request) {
	var req resetRequestReq
	err := decode(w, r, &req)
	var emails []string
	if err == nil {
		emails, err = required("email", req.Email)
	}
	if err == nil && len(emails) != 1 {
		err = invalid("email: an array of exactly one email")
	}
	if err == nil {
		err = s.svc.RequestReset(r.Context(), emails[0], clientAddr(r))
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resetRequestResp{Email: emails})
}

type resetMetaResp struct {
	ID               string `json:"id"`
	MultipleAccounts bool   `json:"multiple_accounts"`
}

// handleResetMetadata is GET /reset-password/metadata/{id}: 200 while the
// id can be used, 404 otherwise.
func (s *Server) handleResetMetadata(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.svc.ResetValid(r.Context(), id, clientAddr(r)); err != nil {
		writeError(w, r, err)
		return
	}
	canonical, _ := mfad.ParseUUID(id)
	writeJSON(w, http.StatusOK, resetMetaResp{ID: canonical})
}

type resetReq struct {
	Password *string `json:"password"`
}

type idResp struct {
	ID string `json:"id"`
}

// handleReset is POST /reset-password/reset/{id}: the new password, plain
// text (not base64, unlike /profile/set-password: as the Quatrix API has
// it).
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	var req resetReq
	err := decode(w, r, &req)
	var password, userID string
	if err == nil {
		password, err = required("password", req.Password)
	}
	if err == nil {
		userID, err = s.svc.ResetPassword(r.Context(), r.PathValue("id"), password, clientAddr(r))
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, idResp{ID: userID})
}

// ---- admin: settings

type settingsResp struct {
	AuthMethods []string `json:"auth_methods"`
}

type settingsSetReq struct {
	AuthMethods *[]string `json:"auth_methods"`
}

func toSettings(a *mfad.Account) settingsResp {
	resp := settingsResp{AuthMethods: []string{}}
	if a.Forced2FA {
		resp.AuthMethods = append(resp.AuthMethods, string(mfad.AuthTOTP))
	}
	return resp
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	acct, err := s.svc.Account(r.Context(), a.Identity())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSettings(acct))
}

func (s *Server) handleSettingsSet(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	var req settingsSetReq
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	methods, err := required("auth_methods", req.AuthMethods)
	force := false
	for i, m := range methods {
		if m != string(mfad.AuthTOTP) {
			err = invalid(`auth_methods[%d]: only "2FA" can be forced for an account`, i)
			break
		}
		force = true
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	acct, err := s.svc.SetForce2FA(r.Context(), a, force)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSettings(acct))
}

// ---- audit trail

type activityItem struct {
	ID      int64  `json:"id"`
	Time    int64  `json:"time"`
	Event   string `json:"event"`
	Outcome string `json:"outcome"`
	ActorID string `json:"actor_id"`
	UserID  string `json:"user_id"`
	Addr    string `json:"addr"`
	Detail  string `json:"detail"`
}

type activityResp struct {
	Activity []activityItem `json:"activity"`
	// Next is the cursor of the following (older) page: pass it as
	// ?before=; 0 when this page is the last.
	Next int64 `json:"next"`
}

// MaxActivity is the largest page of the audit trail.
const MaxActivity = 500

// handleActivity is GET /tracking/activity?limit=N&before=ID: the admin's
// account's audit trail, newest first.
func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request, a auth.Admin) {
	q := r.URL.Query()
	limit, before := 100, int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxActivity {
			writeError(w, r, invalid("limit: an integer from 1 to %d", MaxActivity))
			return
		}
		limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, r, invalid("before: a positive event id (the next value of the previous page)"))
			return
		}
		before = n
	}
	events, err := s.svc.AuditTrail(r.Context(), a, before, limit+1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	resp := activityResp{Activity: make([]activityItem, 0, min(len(events), limit))}
	for i, e := range events {
		if i == limit {
			resp.Next = events[i-1].ID
			break
		}
		resp.Activity = append(resp.Activity, activityItem{ID: e.ID, Time: unix(e.Time), Event: e.Event, Outcome: e.Outcome,
			ActorID: e.ActorID, UserID: e.UserID, Addr: e.Addr, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, resp)
}

// ---- service endpoints

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Length", strconv.Itoa(len(mfad.OpenAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(mfad.OpenAPI)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	s.checkDatabase(w, r, "health", "ok")
}

// handleReadyz is readiness: the database answers and takes writes, and its
// migrations are applied (they run before the server listens, so a server
// that answers has them).
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	s.checkDatabase(w, r, "readiness", "ready")
}

// checkDatabase answers status when the database answers and takes writes,
// else 503.
func (s *Server) checkDatabase(w http.ResponseWriter, r *http.Request, check, status string) {
	if err := s.store.Ping(r.Context()); err != nil {
		logFor(r).ErrorContext(r.Context(), check+" check failed", "err", err)
		writeError(w, r, &mfad.Error{Code: mfad.CodeUnavailable, Msg: "database unavailable", RetryAfter: time.Second})
		return
	}
	writeJSON(w, http.StatusOK, statusResp{Status: status})
}
