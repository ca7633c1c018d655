package handlers

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/inboxhealth/inboxhealth/internal/views"
)

// exportBatch is how many inboxes' snapshots the export reads at a time, so an export
// of 10,000 inboxes never holds them all.
const exportBatch = 500

// exportColumns are the CSV's header; values are Meta's own (machine-readable) next to
// the words the list shows for the status.
var exportColumns = []string{"name", "phone_number", "overall_status", "status_label", "quality_rating",
	"messaging_limit_tier", "can_send_message", "checked_at", "last_check_failed", "url"}

// exportInboxes answers the list's filtered view — status, search and order as on the
// page, every page of it — as CSV. A bad parameter is 400 with what to fix (a file
// silently holding something else than asked would mislead).
func (h *Handler) exportInboxes(c echo.Context) error {
	q, problems := parseFleetQuery(c)
	if len(problems) > 0 {
		var lines []string
		for _, key := range []string{"status", "q", "sort", "page", "per_page"} {
			if p := problems[key]; p != "" {
				lines = append(lines, key+": "+p)
			}
		}
		return echo.NewHTTPError(http.StatusBadRequest, strings.Join(lines, " "))
	}
	ctx := c.Request().Context()
	rows, err := h.store.FleetPage(ctx, fleetFilter(c, q), 0, -1)
	if err != nil {
		return err
	}
	m := currentMembership(c)
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="inboxes-%d-%s.csv"`, m.AccountID, h.now().UTC().Format("20060102-1504")))
	res.Header().Set("Cache-Control", "no-store")
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	if err := w.Write(exportColumns); err != nil {
		return err
	}
	base := strings.TrimRight(h.cfg.FrontendURL, "/")
	for start := 0; start < len(rows); start += exportBatch {
		batch, err := h.withHealth(c, rows[start:min(start+exportBatch, len(rows))], false)
		if err != nil {
			// The status line is sent: end the file where it is, and say so in the log.
			h.log.Error("inbox export stopped", "account_id", m.AccountID, "error", err)
			return nil
		}
		for _, in := range batch {
			if err := w.Write(safeCSVRecord(exportRecord(base, in))); err != nil {
				return nil // the client went away
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return nil
		}
	}
	w.Flush()
	return nil
}

// exportRecord is one inbox's line, in exportColumns' order.
func exportRecord(base string, in fleetInbox) []string {
	rec := []string{in.Name, in.PhoneNumber, in.Overall.Code, in.Overall.Label, "", "", "", "", "",
		base + views.InboxHealthURL(in.AccountID, in.ID)}
	rec[4], rec[5], rec[6] = in.values()
	if s := in.Snapshot; s != nil {
		rec[7] = s.CheckedAt.UTC().Format(time.RFC3339)
		rec[8] = fmt.Sprint(!s.OK)
	}
	return rec
}

// safeCSVRecord defuses spreadsheet formulas: a cell starting with = + - @ (or a tab or
// carriage return, which some spreadsheets skip before reading a formula) gets a
// leading apostrophe, so a name like "=HYPERLINK(...)" is shown, never run (OWASP "CSV
// Injection"). Phone numbers in E.164 start with + and so read '+14155550142.
func safeCSVRecord(rec []string) []string {
	for i, cell := range rec {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			rec[i] = "'" + cell
		}
	}
	return rec
}
