package handlers

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// webClient is a browser over real HTTP: it keeps cookies and does not follow
// redirects, so tests see them.
type webClient struct {
	t      testing.TB
	base   string
	client *http.Client
}

func newWebClient(t testing.TB, baseURL string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: baseURL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// loggedInClient is a new client logged in as email with testPassword.
func loggedInClient(t testing.TB, baseURL, email string) *webClient {
	t.Helper()
	c := newWebClient(t, baseURL)
	c.login(email, testPassword)
	return c
}

// do sends a request (form, when not nil, as an urlencoded body) and returns the
// response with its body read.
func (c *webClient) do(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp, string(text)
}

func (c *webClient) post(path string, form url.Values, header map[string]string) (*http.Response, string) {
	return c.do(http.MethodPost, path, form, header)
}

// getDoc gets a page and parses it.
func (c *webClient) getDoc(path string) (*http.Response, *goquery.Document, string) {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, path, nil, nil)
	return resp, c.parse(body), body
}

// htmxPost posts a form as htmx does: HX-Request and the CSRF header.
func (c *webClient) htmxPost(path string, form url.Values, csrf string) (*http.Response, *goquery.Document, string) {
	c.t.Helper()
	resp, body := c.post(path, form, map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
	return resp, c.parse(body), body
}

func (c *webClient) parse(body string) *goquery.Document {
	c.t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	return doc
}

// csrf reads the hidden CSRF field of a page.
func (c *webClient) csrf(path string) string {
	c.t.Helper()
	resp, doc, _ := c.getDoc(path)
	token, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	if resp.StatusCode != http.StatusOK || !ok || token == "" {
		c.t.Fatalf("GET %s: want 200 with a CSRF field, got %d", path, resp.StatusCode)
	}
	return token
}

// login logs in through the log-in form and expects the redirect that follows success.
func (c *webClient) login(email, password string) {
	c.t.Helper()
	resp, body := c.post("/login", url.Values{"_csrf": {c.csrf("/login")}, "email": {email}, "password": {password}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("log in as %s: want 303, got %d: %s", email, resp.StatusCode, body)
	}
}
