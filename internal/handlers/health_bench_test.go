package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// The health API serves from the stored snapshot; these two benchmarks run in the same
// process and run, so their throughput can be compared directly:
//
//	go test ./internal/handlers -run '^$' -bench 'BareEchoJSON|HealthAPIFromSnapshot' -cpu 4
//
// BenchmarkBareEchoJSON is the ceiling: Echo answering the same JSON document from
// memory, with no middleware, auth or database.

func BenchmarkBareEchoJSON(b *testing.B) {
	env := newHealthEnv(b, "connected")
	in := env.inbox(inboxConnected)
	env.refresh(in)
	snap := env.latestSnapshotOf(in)
	h := New(Config{}, Deps{Store: env.store, Health: env.svc})
	e := echo.New()
	doc := h.healthResponse(e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder()), in, &snap)

	e.GET("/health", func(c echo.Context) error { return c.JSON(http.StatusOK, doc) })
	benchmarkGET(b, e, "/health", "")
}

func BenchmarkHealthAPIFromSnapshot(b *testing.B) {
	env := newHealthEnv(b, "connected")
	in := env.inbox(inboxConnected)
	env.refresh(in)
	benchmarkGET(b, env.routes, healthAPIPath(env.admin.AccountID, in), env.admin.APIAccessToken)
}

func benchmarkGET(b *testing.B, handler http.Handler, path, token string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if token != "" {
				req.Header.Set(headerAPIAccessToken, token)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET %s: want 200, got %d: %s", path, rec.Code, rec.Body)
			}
		}
	})
}
