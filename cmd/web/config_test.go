package main

import (
	"strings"
	"testing"
	"time"
)

func TestAlertAndMetricsConfiguration(t *testing.T) {
	t.Setenv("SMTP_URL", "smtps://mailer:p4ssw0rd-secret@mail.example.com")
	t.Setenv("SMTP_FROM", "alerts@example.com")
	t.Setenv("METRICS_TOKEN", "scrape-token-0123456789")
	t.Setenv("ALERT_REGISTRATION_OVERDUE_AFTER", "36h")
	t.Setenv("ALERT_ALLOW_PRIVATE_DESTINATIONS", "1")
	t.Setenv("ALERT_DIGEST_HOUR", "0")
	cfg, err := configFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP == nil || cfg.SMTP.Host != "mail.example.com" || cfg.SMTP.Port != 465 || !cfg.SMTP.ImplicitTLS ||
		cfg.SMTP.From != "alerts@example.com" || cfg.SMTP.Password != "p4ssw0rd-secret" {
		t.Errorf("SMTP = %+v", cfg.SMTP)
	}
	if cfg.MetricsToken != "scrape-token-0123456789" || cfg.AlertRegistrationOverdueAfter != 36*time.Hour || !cfg.AlertAllowPrivateDestinations || cfg.AlertDigestHour != 0 {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestBadAlertAndMetricsConfigurationIsRefused(t *testing.T) {
	for _, c := range []struct{ name, value, wantIn string }{
		{"SMTP_URL", "http://mail.example.com", "SMTP_URL"},
		{"SMTP_URL", "smtp://user:p4ssw0rd-secret@mail.example.com:0", "SMTP_URL"},
		{"METRICS_TOKEN", "short", "METRICS_TOKEN"},
		{"ALERT_REGISTRATION_OVERDUE_AFTER", "10m", "ALERT_REGISTRATION_OVERDUE_AFTER"},
		{"ALERT_REGISTRATION_OVERDUE_AFTER", "soon", "ALERT_REGISTRATION_OVERDUE_AFTER"},
		{"ALERT_ALLOW_PRIVATE_DESTINATIONS", "yes please", "ALERT_ALLOW_PRIVATE_DESTINATIONS"},
		{"ALERT_DIGEST_HOUR", "24", "ALERT_DIGEST_HOUR"},
	} {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			t.Setenv("SMTP_FROM", "alerts@example.com")
			t.Setenv(c.name, c.value)
			_, err := configFromEnv()
			if err == nil || !strings.Contains(err.Error(), c.wantIn) {
				t.Fatalf("err = %v, want one naming %s", err, c.wantIn)
			}
			if strings.Contains(err.Error(), "p4ssw0rd-secret") {
				t.Errorf("the error repeats the SMTP password: %v", err)
			}
		})
	}
	t.Run("SMTP_URL without SMTP_FROM", func(t *testing.T) {
		t.Setenv("SMTP_URL", "smtp://mail.example.com")
		t.Setenv("SMTP_FROM", "")
		if _, err := configFromEnv(); err == nil || !strings.Contains(err.Error(), "SMTP_FROM") {
			t.Fatalf("err = %v, want one naming SMTP_FROM", err)
		}
	})
}
