package graphsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// bigSim has 500 WABAs with 20 numbers each.
func bigSim(tb testing.TB) *Server {
	tb.Helper()
	sim := New(Config{MaxRequests: 1000})
	for w := range 500 {
		waba := fmt.Sprintf("2%014d", w)
		if err := sim.AddBusiness(Business{WABAID: waba, BusinessID: fmt.Sprintf("3%014d", w), Name: "Biz", AccessToken: "tok-" + waba}); err != nil {
			tb.Fatal(err)
		}
		for n := range 20 {
			if err := sim.AddNumber(Number{
				PhoneNumber:   fmt.Sprintf("+1555%03d%04d", w, n),
				PhoneNumberID: fmt.Sprintf("1%09d%05d", w, n),
				WABAID:        waba,
			}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	tb.Cleanup(sim.Close)
	return sim
}

func TestTenThousandNumbersPageQuickly(t *testing.T) {
	sim := bigSim(t)
	if n := len(sim.Businesses()); n != 500 {
		t.Fatalf("want 500 businesses, got %d", n)
	}
	for w := range 500 {
		waba := fmt.Sprintf("2%014d", w)
		rec := serveLocal(sim, http.MethodGet, "/v24.0/"+waba+"/phone_numbers?fields=id,status,health_status&limit=100", "tok-"+waba)
		if rec.Code != 200 {
			t.Fatalf("WABA %s: want 200, got %d %s", waba, rec.Code, rec.Body)
		}
	}
}

func BenchmarkListNumbersPage(b *testing.B) {
	sim := bigSim(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		waba := fmt.Sprintf("2%014d", i%500)
		i++
		req := httptest.NewRequest(http.MethodGet, "/v24.0/"+waba+"/phone_numbers?fields=id,status,platform_type,throughput,health_status&limit=20", nil)
		req.Header.Set("Authorization", "Bearer tok-"+waba)
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("want 200, got %d", w.Code)
		}
	}
}

func BenchmarkGetNumber(b *testing.B) {
	sim := bigSim(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := i % 500
		id := fmt.Sprintf("1%09d%05d", w, i%20)
		i++
		req := httptest.NewRequest(http.MethodGet, "/v24.0/"+id+"?fields=id,status,health_status", nil)
		req.Header.Set("Authorization", "Bearer tok-"+fmt.Sprintf("2%014d", w))
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("want 200, got %d", rec.Code)
		}
	}
}
