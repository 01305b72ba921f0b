package httpapi

import "net/http"

// routeTable is the whole API surface on one screen. Each entry names who
// may call it; the token is checked before the body.
func (s *Server) routeTable() []Route {
	b := BasePath
	return []Route{
		{"GET", b + "/session/login", http.HandlerFunc(s.handlePasswordLogin)},
		{"POST", b + "/session/login", s.authed(limitedOnly, s.handleSecondFactor)},
		{"POST", b + "/session/login/passkey", s.authed(limitedOnly, s.handlePasskeyLoginOptions)},
		{"GET", b + "/session/keepalive", s.authed(full, s.handleKeepalive)},
		{"GET", b + "/session/logout", s.authed(anySession, s.handleLogout)},

		{"GET", b + "/auth/verify", http.HandlerFunc(s.handleVerify)},
		{"GET", b + "/auth/cookie", http.HandlerFunc(s.handleResume)},
		{"POST", b + "/auth/cookie", s.authed(full, s.handleSetCookie)},
		{"DELETE", b + "/auth/cookie", http.HandlerFunc(s.handleClearCookie)},

		{"POST", b + "/reset-password/request", http.HandlerFunc(s.handleResetRequest)},
		{"GET", b + "/reset-password/metadata/{id}", http.HandlerFunc(s.handleResetMetadata)},
		{"POST", b + "/reset-password/reset/{id}", http.HandlerFunc(s.handleReset)},

		{"GET", b + "/profile", s.authed(full, s.handleProfile)},
		{"GET", b + "/profile/2fa/generate", s.authed(fullOrEnrolling, s.handleGenerate2FA)},
		{"POST", b + "/profile/set-mfa", s.authed(full, s.handleProfileSetMFA)},
		{"POST", b + "/profile/remove-mfa", s.authed(full, s.handleProfileRemoveMFA)},
		{"POST", b + "/profile/set-password", s.authed(full, s.handleSetPassword)},
		{"POST", b + "/profile/recovery-codes", s.authed(full, s.handleRecoveryCodes)},
		{"GET", b + "/profile/passkeys", s.authed(full, s.handlePasskeys)},
		{"POST", b + "/profile/passkeys", s.authed(full, s.handlePasskeyAdd)},
		{"POST", b + "/profile/passkeys/options", s.authed(full, s.handlePasskeyOptions)},
		{"POST", b + "/profile/passkeys/rename", s.authed(full, s.handlePasskeyRename)},
		{"POST", b + "/profile/passkeys/delete", s.authed(full, s.handlePasskeyDelete)},

		{"POST", b + "/user/set-mfa", s.admin(s.handleUserSetMFA)},
		{"POST", b + "/user/remove-mfa", s.admin(s.handleUserRemoveMFA)},
		{"POST", b + "/user/reset-mfa", s.admin(s.handleUserResetMFA)},
		{"POST", b + "/user/create", s.admin(s.handleUserCreate)},
		{"GET", b + "/user", s.admin(s.handleUsers)},
		{"GET", b + "/user/metadata/{id}", s.admin(s.handleUser)},
		{"POST", b + "/user/delete", s.admin(s.handleUserDelete)},
		{"POST", b + "/user/edit", s.admin(s.handleUserEdit)},
		{"POST", b + "/user/unlock", s.admin(s.handleUserUnlock)},

		{"GET", b + "/tracking/activity", s.admin(s.handleActivity)},

		{"GET", b + "/settings", s.admin(s.handleSettings)},
		{"POST", b + "/settings/set", s.admin(s.handleSettingsSet)},

		{"GET", b + "/openapi.yaml", http.HandlerFunc(s.handleOpenAPI)},
		{"GET", "/healthz", http.HandlerFunc(s.handleHealthz)},
		{"GET", "/readyz", http.HandlerFunc(s.handleReadyz)},
	}
}
