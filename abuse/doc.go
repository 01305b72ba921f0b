// Package abuse holds the black-box abuse suite of mfad: one test per item (or
// small group of items) of the project's abuse checklist,
// docs/abuse-checklist.md, each driving a real server over HTTP on loopback
// (internal/testserver) and run twice, on SQLite and on PostgreSQL
// (MFAD_TEST_POSTGRES).
//
// Every response the suite receives is also checked for the invariants every
// answer of mfad must hold (docs/api.md, "Conventions"): no 5xx, an
// ErrorModel body for every error, Cache-Control: no-store, Retry-After on
// 429, no internals (stack traces, SQL, file paths, hashes, version banners)
// in error bodies; and every server's log is checked for panics and internal
// errors when its test ends.
//
// The suite shares no test code with the server's own tests, on purpose: it
// has its own HTTP client (the one that checks every answer, above) and
// computes TOTP codes from RFC 6238 itself instead of with the server's totp
// package, so that a fault in the server's code, or in a harness both would
// use, cannot hide from it.
//
// Measured figures are logged on lines starting with "FIGURE " for SECURITY.md.
//
// Items that need a process (kill, restart of a binary, a database made
// unavailable, floods of connections) are covered by the process-level tests
// of cmd/mfad, not here:
//
//   - 34 SIGKILL during a write burst: TestSIGKILLLosesNoAcknowledgedWrite;
//   - 35 TOTP replay after SIGKILL and restart: TestTOTPReplayAfterSIGKILL;
//   - 37 database gone or read-only: TestClusterSurvivesDatabaseOutage and
//     TestDatabaseReadOnly;
//   - 38 slow connections: TestSlowClientsAreCutOff;
//   - 39 floods of argon2id logins: TestFloodOfPasswordLogins (the refusal of
//     very long passwords before hashing is TestItem39LongPasswordsRefusedBeforeHashing here).
//
// Several instances on one database (items 20, 28 and 33) are exercised here
// in-process: two or three servers share one SQLite file or PostgreSQL
// database, one sealing key and one fake clock (see forEachCluster); the
// process-level variants are TestClusterOnPostgres and TestLockoutSurvivesRestart
// in cmd/mfad.
package abuse
