package httpapi

import (
	"context"
	"log/slog"
)

func ctxWithLog(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logCtxKey{}, l)
}
