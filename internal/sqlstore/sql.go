package sqlstore

// Statements, written once with ? placeholders and the markers of
// Dialect.q, and spelled for the dialect when a Store is made (so that each
// is one constant string per store, which the statement caches key on).

const userCols = `id, account_id, name, email, super_admin, password_hash, has_2fa, forced_2fa,
	totp_seal, totp_gen, totp_last, has_pin, forced_pin, pin_hash, created, modified, last_login, disabled`

// userReadCols are the columns ScanUser reads: userCols and the count of
// passkeys, which only the passkey statements write.
const userReadCols = userCols + ", passkeys"

// Statements is every statement of the store, in the dialect's SQL.
// Exported for the store packages that send some of them themselves (in a
// pipelined batch).
type Statements struct {
	Meta, PutMetaIfAbsent, SetMeta                         string
	PurgeSessions, PurgePending, PurgeThrottle             string
	InsertAccount, CountAccounts, Account, SetAccountForce string
	InsertUser, UserByID, UserByEmail, UsersOfAccount      string
	LockIDs, DeleteSessionsOfIDs, DeleteUsersOfIDs         string

	InsertSession, RecordLogin, Session, SessionUser     string
	TouchSession, DeleteSession, FailSession             string
	CountLimited, CapLimited, CountSessions              string
	LockedUntil, TakeKey, CloseLimited, ConsumeStep      string
	ResetKey                                             string
	LockPending, ActivatePending, DropPending            string
	PutPending, Pending, CloseOthers                     string
	SetPIN, FactorsForRemoval, RemoveTOTP, RemovePIN     string
	AccountForces, AdminSetTOTP, AdminSetPIN             string
	DropPendingOfIDs, AdminRemoveTOTP, AdminRemovePIN    string
	AdminResetTOTP                                       string
	EditName, EditEmail, EditAdmin, EditDisabled         string
	SetPassword, ResetKeys                               string
	DropResets, PutReset, Reset, UseReset, PurgeResets   string
	CloseAll, AllUsers                                   string
	DropRecovery, PutRecovery, CountRecovery             string
	HasRecovery, UseRecovery, DropRecoveryOfIDs          string
	InsertPasskey, CountPasskey, Passkeys, RenamePasskey string
	DeletePasskey, RecountPasskeys, UsePasskey           string
	DropPasskeysOfIDs, ZeroPasskeysOfIDs                 string
	PutChallenge, TakeChallenge, PurgeChallenges         string

	StoreThrottle, Release, InsertAudit, AuditEvents string
	SealedSecrets, ResealActive, ResealPending       string
}

func (d *Dialect) statements() Statements {
	q := d.q
	in := d.InIDs
	returningID := " RETURNING id"
	if d.LastInsertID {
		returningID = ""
	}
	return Statements{
		Meta:            q("SELECT value FROM meta WHERE key = ?"),
		PutMetaIfAbsent: q("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO NOTHING"),
		SetMeta:         q("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
		PurgeSessions:   q("DELETE FROM sessions WHERE expires <= ?"),
		PurgePending:    q("DELETE FROM pending_totp WHERE created <= ?"),
		PurgeThrottle:   q("DELETE FROM throttle WHERE locked_until <= ? AND window_start <= ?"),

		InsertAccount:       q("INSERT INTO accounts(id, title, force_2fa, created, modified) VALUES(?, ?, ?, ?, ?)"),
		CountAccounts:       q("SELECT count(*) FROM accounts"),
		Account:             q("SELECT id, title, force_2fa, created, modified FROM accounts WHERE id = ?"),
		SetAccountForce:     q("UPDATE accounts SET force_2fa = ?, modified = ? WHERE id = ?"),
		InsertUser:          q("INSERT INTO users(" + userCols + ", email_key) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		UserByID:            q("SELECT " + userReadCols + " FROM users WHERE id = ?"),
		UserByEmail:         q("SELECT " + userReadCols + " FROM users WHERE email_key = ?"),
		UsersOfAccount:      q("SELECT " + userReadCols + " FROM users WHERE account_id = ? ORDER BY created, id"),
		LockIDs:             q("SELECT id FROM users WHERE {NOINDEX}account_id = ? AND " + in("id") + " ORDER BY id{FOR UPDATE}"),
		DeleteSessionsOfIDs: q("DELETE FROM sessions WHERE " + in("user_id")),
		DeleteUsersOfIDs:    q("DELETE FROM users WHERE " + in("id")),

		InsertSession: q(`INSERT INTO sessions(hash, user_id, kind, step, created, last_seen, expires, failures)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?)`),
		RecordLogin: q("UPDATE users SET last_login = ? WHERE id = ?"),
		Session:     q("SELECT hash, user_id, kind, step, created, last_seen, expires, failures FROM sessions WHERE hash = ?"),
		SessionUser: q(`SELECT s.hash, s.kind, s.step, s.created, s.last_seen, s.expires, s.failures,
			a.id, a.title, a.force_2fa, a.created, a.modified, ` + qualify(userReadCols, "u") + `
			FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
			WHERE s.hash = ?`),
		TouchSession:  q("UPDATE sessions SET last_seen = ? WHERE hash = ? AND last_seen < ?"),
		DeleteSession: q("DELETE FROM sessions WHERE hash = ?"),
		FailSession:   q("UPDATE sessions SET failures = failures + 1 WHERE hash = ? AND kind = 'limited' RETURNING failures"),
		CountLimited:  q("SELECT count(*) FROM sessions WHERE user_id = ? AND kind = 'limited'"),
		// A user's limited sessions but the new one (hash) and the newest
		// others (the limit): ties in created are broken by hash.
		CapLimited: q(`DELETE FROM sessions WHERE user_id = ? AND kind = 'limited' AND hash <> ?
			AND hash NOT IN (SELECT hash FROM sessions WHERE user_id = ? AND kind = 'limited' AND hash <> ?
				ORDER BY created DESC, hash DESC LIMIT ?)`),
		CountSessions: q(`SELECT
			COALESCE(SUM(CASE WHEN kind = 'full' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = 'limited' THEN 1 ELSE 0 END), 0)
			FROM sessions WHERE expires > ?`),

		LockedUntil:  q("SELECT locked_until FROM throttle WHERE key = ?"),
		TakeKey:      q("DELETE FROM throttle WHERE key = ? RETURNING locked_until"),
		CloseLimited: q("DELETE FROM sessions WHERE hash = ? AND kind = 'limited' AND user_id = ?"),
		// The step is consumed, and a completed login recorded, in one
		// statement: while the step is after the last accepted one and the
		// secret is still the one the code was checked against.
		ConsumeStep: q(`UPDATE users SET totp_last = ?, last_login = CASE WHEN ? THEN ? ELSE last_login END
			WHERE id = ? AND totp_last < ? AND totp_gen = ? AND totp_seal IS NOT NULL`),
		ResetKey: q("DELETE FROM throttle WHERE key = ?"),
		// Enrollment: the pending secret is locked, made the active one
		// while the step is after the last accepted one, then dropped.
		LockPending: q("SELECT 1 FROM pending_totp WHERE user_id = ? AND id = ?{FOR UPDATE}"),
		ActivatePending: q(`UPDATE users SET totp_seal = p.seal, totp_gen = users.totp_gen + 1, totp_last = ?, has_2fa = TRUE, modified = ?
			FROM pending_totp p WHERE users.id = ? AND p.user_id = ? AND p.id = ? AND users.totp_last < ?`),
		DropPending: q("DELETE FROM pending_totp WHERE user_id = ?"),
		PutPending: q(`INSERT INTO pending_totp(user_id, id, seal, created) VALUES(?, ?, ?, ?)
			ON CONFLICT(user_id) DO UPDATE SET id = excluded.id, seal = excluded.seal, created = excluded.created`),
		Pending:     q("SELECT user_id, id, seal, created FROM pending_totp WHERE user_id = ?"),
		CloseOthers: q("DELETE FROM sessions WHERE user_id = ? AND hash IS DISTINCT FROM ?"),

		SetPIN: q("UPDATE users SET has_pin = TRUE, pin_hash = ?, modified = ? WHERE id = ?"),
		// The user, and the account row against a concurrent change of its
		// forced 2FA.
		FactorsForRemoval: q(`SELECT u.forced_2fa, u.forced_pin, a.force_2fa
			FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = ?{FOR UPDATE}`),
		RemoveTOTP: q(`UPDATE users SET has_2fa = FALSE, totp_seal = NULL, totp_gen = totp_gen + 1, modified = ?
			WHERE id = ? AND (has_2fa OR totp_seal IS NOT NULL)`),
		RemovePIN:        q("UPDATE users SET has_pin = FALSE, pin_hash = NULL, modified = ? WHERE id = ? AND (has_pin OR pin_hash IS NOT NULL)"),
		AccountForces:    q("SELECT force_2fa FROM accounts WHERE id = ?{FOR SHARE}"),
		AdminSetTOTP:     q("UPDATE users SET has_2fa = TRUE, forced_2fa = TRUE, modified = ? WHERE " + in("id")),
		AdminSetPIN:      q("UPDATE users SET has_pin = TRUE, forced_pin = TRUE, pin_hash = ?, modified = ? WHERE " + in("id")),
		DropPendingOfIDs: q("DELETE FROM pending_totp WHERE " + in("user_id")),
		AdminRemoveTOTP: q(`UPDATE users SET has_2fa = FALSE, forced_2fa = FALSE, totp_seal = NULL,
			totp_gen = totp_gen + 1, modified = ? WHERE ` + in("id")),
		AdminRemovePIN: q("UPDATE users SET has_pin = FALSE, forced_pin = FALSE, pin_hash = NULL, modified = ? WHERE " + in("id")),
		AdminResetTOTP: q("UPDATE users SET totp_seal = NULL, totp_gen = totp_gen + 1, modified = ? WHERE " + in("id")),
		EditName:       q("UPDATE users SET name = ?, modified = ? WHERE " + in("id")),
		EditEmail:      q("UPDATE users SET email = ?, email_key = ?, modified = ? WHERE " + in("id")),
		EditAdmin:      q("UPDATE users SET super_admin = ?, modified = ? WHERE " + in("id")),
		EditDisabled:   q("UPDATE users SET disabled = ?, modified = ? WHERE " + in("id")),
		SetPassword:    q("UPDATE users SET password_hash = ?, modified = ? WHERE id = ?"),
		ResetKeys:      q("DELETE FROM throttle WHERE " + in("key")),
		DropResets:     q("DELETE FROM password_resets WHERE user_id = ?"),
		PutReset:       q("INSERT INTO password_resets(hash, user_id, created, expires) VALUES(?, ?, ?, ?)"),
		Reset: q(`SELECT r.hash, r.created, r.expires, ` + qualify(userReadCols, "u") + `
			FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.hash = ? AND r.expires > ?`),
		UseReset:    q("DELETE FROM password_resets WHERE hash = ? AND expires > ? RETURNING user_id"),
		PurgeResets: q("DELETE FROM password_resets WHERE expires <= ?"),
		CloseAll:    q("DELETE FROM sessions WHERE user_id = ?"),
		AllUsers:    q("SELECT " + userReadCols + " FROM users ORDER BY account_id, created, id"),

		DropRecovery:      q("DELETE FROM recovery_codes WHERE user_id = ?"),
		PutRecovery:       q("INSERT INTO recovery_codes(user_id, hash, created) VALUES(?, ?, ?)"),
		CountRecovery:     q("SELECT count(*) FROM recovery_codes WHERE user_id = ?"),
		HasRecovery:       q("SELECT count(*) FROM recovery_codes WHERE user_id = ? AND hash = ?"),
		UseRecovery:       q("DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?"),
		DropRecoveryOfIDs: q("DELETE FROM recovery_codes WHERE " + in("user_id")),

		InsertPasskey: q(`INSERT INTO passkeys(id, user_id, credential_id, name, record, sign_count, created, last_used)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(credential_id) DO NOTHING`),
		// The user's row is locked (PostgreSQL) and counted against the
		// limit before the insert.
		CountPasskey: q("UPDATE users SET passkeys = passkeys + 1, modified = ? WHERE id = ? AND passkeys < ? RETURNING passkeys"),
		Passkeys: q(`SELECT id, user_id, credential_id, name, record, sign_count, created, last_used
			FROM passkeys WHERE user_id = ? ORDER BY created, id`),
		RenamePasskey:   q("UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?"),
		DeletePasskey:   q("DELETE FROM passkeys WHERE id = ? AND user_id = ?"),
		RecountPasskeys: q("UPDATE users SET passkeys = (SELECT count(*) FROM passkeys WHERE user_id = ?), modified = ? WHERE id = ?"),
		// An assertion's counter and record, while the counter is the one
		// it was checked against.
		UsePasskey: q(`UPDATE passkeys SET sign_count = ?, record = ?, last_used = ?
			WHERE id = ? AND user_id = ? AND sign_count = ?`),
		DropPasskeysOfIDs: q("DELETE FROM passkeys WHERE " + in("user_id")),
		ZeroPasskeysOfIDs: q("UPDATE users SET passkeys = 0, modified = ? WHERE " + in("id")),
		PutChallenge: q(`INSERT INTO webauthn_challenges(session_hash, kind, data, expires) VALUES(?, ?, ?, ?)
			ON CONFLICT(session_hash) DO UPDATE SET kind = excluded.kind, data = excluded.data, expires = excluded.expires`),
		TakeChallenge:   q("DELETE FROM webauthn_challenges WHERE session_hash = ? RETURNING kind, data, expires"),
		PurgeChallenges: q("DELETE FROM webauthn_challenges WHERE expires <= ?"),

		StoreThrottle: q(`INSERT INTO throttle(key, count, window_start, locked_until) VALUES(?, ?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET count = excluded.count, window_start = excluded.window_start, locked_until = excluded.locked_until`),
		Release: q(`UPDATE throttle SET count = {GREATEST}(count - 1, 0),
			locked_until = CASE WHEN count - 1 < ? THEN 0 ELSE locked_until END WHERE key = ?`),
		// The new row's id: returned, or the driver's Result.LastInsertId
		// (see Dialect.LastInsertID).
		InsertAudit: q(`INSERT INTO audit(account_id, actor_id, user_id, event, outcome, addr, detail, at)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?)` + returningID),
		AuditEvents: q(`SELECT id, account_id, actor_id, user_id, event, outcome, addr, detail, at
			FROM audit WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?`),
		SealedSecrets: q(`SELECT id, FALSE, totp_seal FROM users WHERE totp_seal IS NOT NULL
			UNION ALL SELECT user_id, TRUE, seal FROM pending_totp`),
		ResealActive:  q("UPDATE users SET totp_seal = ? WHERE id = ? AND totp_seal = ?"),
		ResealPending: q("UPDATE pending_totp SET seal = ? WHERE user_id = ? AND seal = ?"),
	}
}
