package mfad

// Event names: the values of the `event` field of the audit trail (GET
// /tracking/activity) and of the `event` attribute of the server's audit
// log lines. They are part of the public API: never rename them.
const (
	EventLoginOK       = "login.ok"            // a login completed: its last step passed
	EventPasswordOK    = "login.password.ok"   // the right password, a second factor owed
	EventPasswordFail  = "login.password.fail" // a wrong email or password, or one refused before hashing
	EventFactorOK      = "login.factor.ok"     // a second factor passed, another owed
	EventFactorFail    = "login.factor.fail"   // a wrong second-factor code
	EventLockout       = "login.lockout"       // the failed attempt that locked the email
	EventLocked        = "login.locked"        // an attempt refused while the email is locked
	EventThrottled     = "login.throttled"     // a password login refused: the client address is over its limit
	EventTOTPReplay    = "totp.replay"         // a TOTP code whose time step was already used
	EventTOTPGenerated = "factor.2fa.generated"
	// A new set of recovery codes, and a login step passed with one.
	EventRecoveryGenerated = "factor.recovery.generated"
	EventRecoveryUsed      = "factor.recovery.used"
	EventFactorSet         = "factor.set"
	// A passkey registered or deleted by its user, a login step passed
	// with one, and an assertion refused because its signature counter did
	// not move forward (a cloned authenticator).
	EventPasskeyAdded   = "factor.passkey.added"
	EventPasskeyRemoved = "factor.passkey.removed"
	EventPasskeyUsed    = "factor.passkey.used"
	EventPasskeyCloned  = "factor.passkey.cloned"
	EventFactorRemoved  = "factor.removed"
	EventLogout         = "session.logout"
	EventAdminSetMFA    = "admin.set_mfa"
	EventAdminRemoveMFA = "admin.remove_mfa"
	EventAdminResetMFA  = "admin.reset_mfa"
	EventUserCreated    = "admin.user_created"
	EventUserDeleted    = "admin.user_deleted"
	EventSettings       = "admin.settings"
	EventUserEdited     = "admin.user_edited"
	EventUserUnlocked   = "admin.user_unlocked"
	EventPasswordSet    = "password.changed"         // a user changed their own password
	EventPasswordWrong  = "password.change.fail"     // a wrong current password on a change (counted as a failed attempt)
	EventResetRequested = "password.reset.requested" // a reset link was mailed
	EventPasswordReset  = "password.reset"           // a reset link was used
	// An operator's change through "mfad user" on the database.
	EventOperatorResetMFA    = "operator.reset_mfa"
	EventOperatorUnlock      = "operator.unlock"
	EventOperatorSetPassword = "operator.set_password"
)

// TrailEvents are the events an account's audit trail may hold, in the
// order openapi.yaml lists them (a test checks that it does). Two are
// logged but never in a trail: EventThrottled (no user is known) and
// EventLocked on the password step (see auth.Service.PasswordLogin).
var TrailEvents = []string{
	EventLoginOK, EventPasswordOK, EventPasswordFail, EventFactorOK, EventFactorFail,
	EventLockout, EventLocked, EventTOTPReplay, EventTOTPGenerated,
	EventRecoveryGenerated, EventRecoveryUsed, EventFactorSet,
	EventPasskeyAdded, EventPasskeyRemoved, EventPasskeyUsed, EventPasskeyCloned,
	EventFactorRemoved, EventLogout, EventAdminSetMFA, EventAdminRemoveMFA,
	EventAdminResetMFA, EventUserCreated, EventUserDeleted, EventSettings,
	EventUserEdited, EventUserUnlocked, EventPasswordSet, EventPasswordWrong,
	EventResetRequested, EventPasswordReset,
	EventOperatorResetMFA, EventOperatorUnlock, EventOperatorSetPassword,
}
