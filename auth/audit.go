package auth

import (
	"context"
	"log/slog"
	"sync"

	"github.com/mfad/mfad"
)

type logKey struct{}

// WithLogger returns a context whose audit events and errors go to l (the
// HTTP layer adds the request id); Logger reads it back.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// Logger returns the logger of ctx (WithLogger, WithRequestLogger),
// slog.Default() if none.
func Logger(ctx context.Context) *slog.Logger {
	switch l := ctx.Value(logKey{}).(type) {
	case *slog.Logger:
		return l
	case *RequestLogger:
		return l.Logger()
	}
	return slog.Default()
}

// RequestLogger is a request's logger: base with the request's id, made
// the first time it is asked for. Most forward-auth checks log nothing
// (see httpapi), and slog's With copies and formats the handler's state:
// a few percent of such a request's CPU.
type RequestLogger struct {
	base *slog.Logger
	id   string
	once sync.Once
	l    *slog.Logger
}

// WithRequestLogger returns a context whose logger (Logger) is base with
// the attribute request_id=id, and that logger's maker.
func WithRequestLogger(ctx context.Context, base *slog.Logger, id string) (context.Context, *RequestLogger) {
	rl := &RequestLogger{base: base, id: id}
	return context.WithValue(ctx, logKey{}, rl), rl
}

// Logger is the request's logger.
func (r *RequestLogger) Logger() *slog.Logger {
	r.once.Do(func() { r.l = r.base.With("request_id", r.id) })
	return r.l
}

// Enabled reports whether the request's logger logs at level, without
// making it.
func (r *RequestLogger) Enabled(ctx context.Context, level slog.Level) bool {
	return r.base.Enabled(ctx, level)
}

type addrKeyT struct{}

// WithClientAddr returns a context carrying the client's address, which the
// audit trail records.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, addrKeyT{}, addr)
}

// ClientAddr returns the client's address that WithClientAddr put in ctx.
func ClientAddr(ctx context.Context) string {
	a, _ := ctx.Value(addrKeyT{}).(string)
	return a
}

// event is one security event: it is logged, and recorded in the account's
// audit trail when the account is known. It never holds a secret.
type event struct {
	name    string
	step    string // for login steps: password, 2FA, PIN or enrollment
	failure bool
	user    *mfad.User // whom it is about (nil: an email with no user)
	actor   *mfad.User // who acted, when not the user (an admin)
	targets []string   // the users an admin acted on
	detail  string
}

func (s *Service) audit(ctx context.Context, es ...event) {
	var rows []*mfad.AuditEvent
	for _, e := range es {
		s.announce(ctx, e)
		rows = append(rows, s.auditRows(ctx, e)...)
	}
	if len(rows) == 0 {
		return // no account to record them in
	}
	// The change itself is committed already; a trail that cannot be
	// written is reported loudly but does not undo it.
	if err := s.store.RecordAudit(context.WithoutCancel(ctx), rows); err != nil {
		Logger(ctx).ErrorContext(ctx, "audit trail not written", "event", es[0].name, "err", err)
	}
}

func (e event) outcome() string {
	if e.failure {
		return "failure"
	}
	return "success"
}

// announce logs the event, counts it, and mails the notice it calls for.
func (s *Service) announce(ctx context.Context, e event) {
	level := slog.LevelInfo
	if e.failure {
		level = slog.LevelWarn
	}
	attrs := []any{"event", e.name, "outcome", e.outcome(), "addr", ClientAddr(ctx)}
	if e.user != nil {
		attrs = append(attrs, "user_id", e.user.ID)
	}
	if e.actor != nil {
		attrs = append(attrs, "actor_id", e.actor.ID)
	}
	if len(e.targets) > 0 {
		attrs = append(attrs, "targets", len(e.targets))
	}
	if e.detail != "" {
		attrs = append(attrs, "detail", e.detail)
	}
	Logger(ctx).Log(ctx, level, "audit", attrs...)
	s.notify(ctx, e)
	if s.observer != nil {
		s.observer.Event(e.name, e.step, e.outcome())
	}
}

// auditRows are the audit trail entries of e: one per user acted on, none
// when no account is known.
func (s *Service) auditRows(ctx context.Context, e event) []*mfad.AuditEvent {
	actor := e.actor
	if actor == nil {
		actor = e.user
	}
	if actor == nil {
		return nil
	}
	whom := e.targets
	if len(whom) == 0 {
		whom = []string{e.user.ID}
	}
	now, addr := s.now(), ClientAddr(ctx)
	rows := make([]*mfad.AuditEvent, len(whom))
	for i, id := range whom {
		rows[i] = &mfad.AuditEvent{AccountID: actor.AccountID, ActorID: actor.ID, UserID: id, Event: e.name,
			Outcome: e.outcome(), Addr: addr, Detail: e.detail, Time: now}
	}
	return rows
}

// AuditTrail returns a page of the admin's account's audit trail, newest
// first: events with IDs below before (0: from the newest).
func (s *Service) AuditTrail(ctx context.Context, a Admin, before int64, limit int) ([]*mfad.AuditEvent, error) {
	admin, err := a.user()
	if err != nil {
		return nil, err
	}
	return s.store.AuditEvents(ctx, admin.AccountID, before, limit)
}
