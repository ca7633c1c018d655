package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

// An administrator adds an agent with one inbox and reads the one-time password off
// the screen; the agent signs in with it in their own browser, chooses a password and
// sees only that inbox; the administrator removes the agent, and the agent's open page
// falls to the log-in page on the next click.
func TestBrowserAdministratorAddsAndRemovesAnAgent(t *testing.T) {
	app := startTestApp(t)
	const agentEmail, assignedInbox = "new.agent@demo.test", "Acme Sales"
	in := demoInbox(t, app, assignedInbox)

	admin := newBrowser(t)
	browserLogin(t, admin, app.URL, demoAdminEmail, demoAdminPassword)
	inboxCheckbox := `[data-testid="person-inbox"][value="` + strconv.FormatInt(in.ID, 10) + `"]`
	if err := chromedp.Do(admin,
		chromedp.Click(css(`[data-testid="nav-people"]`)),
		chromedp.WaitVisible(css(`[data-testid="people-list"]`)),
		chromedp.Click(css(`[data-testid="add-person"]`)),
		chromedp.WaitVisible(css(`form[data-testid="person-form"]`)),
		chromedp.SendKeys(css(`#person-email`), agentEmail),
		chromedp.SetValue(css(`#person-role`), "agent"),
		chromedp.Click(css(inboxCheckbox)),
		chromedp.Submit(css(`form[data-testid="person-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="one-time-password"]`)),
	); err != nil {
		t.Fatalf("add the agent on the People page: %v", err)
	}
	password := strings.TrimSpace(textOf(t, admin, `[data-testid="one-time-password"]`))
	if len(password) < 20 {
		t.Fatalf("want a one-time password on the screen, got %q", password)
	}

	agent := newBrowser(t)
	browserLogin(t, agent, app.URL, agentEmail, password)
	const chosen = "the agent's own password"
	if err := chromedp.Do(agent,
		chromedp.WaitVisible(css(`form[data-testid="choose-password-form"]`)),
		chromedp.SendKeys(css(`#new-password`), chosen),
		chromedp.SendKeys(css(`#new-password-again`), chosen),
		chromedp.Submit(css(`form[data-testid="choose-password-form"]`)),
		chromedp.WaitVisible(css(`[data-testid="inbox-list"]`)),
	); err != nil {
		t.Fatalf("the agent chooses a password after signing in with the one-time one: %v", err)
	}
	rows, err := chromedp.Run(agent, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="inbox-row"] td:first-child')].map(td => td.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0] != assignedInbox {
		t.Fatalf("the agent's inbox list: want only %q, got %q", assignedInbox, rows)
	}

	if err := chromedp.Do(admin,
		chromedp.Navigate(app.URL+views.PeopleURL(in.AccountID)),
		chromedp.WaitVisible(css(`[data-testid="person-row"][data-email="`+agentEmail+`"]`)),
		chromedp.Click(css(`[data-testid="person-row"][data-email="`+agentEmail+`"] [data-testid="edit-person"]`)),
		chromedp.WaitVisible(css(`form[data-testid="remove-person-form"]`)),
		chromedp.Click(css(`[data-testid="remove-person-confirm"]`)),
		chromedp.Click(css(`[data-testid="remove-person-submit"]`)),
		chromedp.WaitVisible(css(`[data-testid="flash"]`)),
	); err != nil {
		t.Fatalf("remove the agent: %v", err)
	}
	if flash := textOf(t, admin, `[data-testid="flash"]`); !strings.Contains(flash, agentEmail) {
		t.Errorf("after removal: want a message naming the agent, got %q", flash)
	}
	if list := textOf(t, admin, `[data-testid="people-list"]`); strings.Contains(list, agentEmail) {
		t.Errorf("the removed agent must be gone from the People list, got %q", list)
	}

	// The agent's page is still open; their next click lands on the log-in page.
	if err := chromedp.Do(agent,
		chromedp.Click(css(`[data-testid="inbox-row"] a`)),
		chromedp.WaitVisible(css(`form[data-testid="login-form"]`)),
	); err != nil {
		t.Fatalf("the removed agent's next click: want the log-in page, got: %v", err)
	}
	if n, err := chromedp.Run(agent, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="current-user"]').length`)); err != nil || n != 0 {
		t.Errorf("on the log-in page the removed agent must not be signed in, got %d (%v)", n, err)
	}
}
