package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/inboxhealth/inboxhealth/internal/db"
)

// maxInboxIDs bounds the inbox list of one member change.
const maxInboxIDs = 1000

// memberInput is the add-person form and the members API's create body.
type memberInput struct {
	Email    string  `json:"email"`
	Role     string  `json:"role"`
	InboxIDs []int64 `json:"inbox_ids"`
}

// validate trims the input and returns one message per invalid field (empty when all
// is well). The store checks what needs the database (inboxes of this account, the
// last administrator).
func (in *memberInput) validate() map[string]string {
	errs := map[string]string{}
	email, err := db.CheckEmail(in.Email)
	in.Email = email
	switch {
	case email == "":
		errs["email"] = "Enter the person's email address: it is their login."
	case err != nil:
		errs["email"] = "Enter one email address, like sam@example.com."
	}
	in.Role = strings.TrimSpace(in.Role)
	if problem := roleProblem(in.Role); problem != "" {
		errs["role"] = problem
	}
	if problem := inboxIDsProblem(in.Role, in.InboxIDs); problem != "" {
		errs["inbox_ids"] = problem
	}
	return errs
}

// memberChangeInput is the members API's PATCH body; absent fields stay as they are.
type memberChangeInput struct {
	Role     *string  `json:"role"`
	InboxIDs *[]int64 `json:"inbox_ids"`
}

func (in *memberChangeInput) validate() map[string]string {
	errs := map[string]string{}
	if in.Role == nil && in.InboxIDs == nil {
		errs["role"] = "Send role, inbox_ids or both."
		return errs
	}
	role := ""
	if in.Role != nil {
		role = strings.TrimSpace(*in.Role)
		in.Role = &role
		if problem := roleProblem(role); problem != "" {
			errs["role"] = problem
		}
	}
	if in.InboxIDs != nil {
		if problem := inboxIDsProblem(role, *in.InboxIDs); problem != "" {
			errs["inbox_ids"] = problem
		}
	}
	return errs
}

func (in memberChangeInput) toChange() db.MemberChange {
	return db.MemberChange{Role: in.Role, InboxIDs: in.InboxIDs}
}

func roleProblem(role string) string {
	if !db.ValidRole(role) {
		return "Choose administrator or agent."
	}
	return ""
}

// inboxIDsProblem checks what can be checked without the database; role is "" when
// it is not being set.
func inboxIDsProblem(role string, ids []int64) string {
	switch {
	case len(ids) > maxInboxIDs:
		return "Give at most 1000 inboxes."
	case role == db.RoleAdministrator && len(ids) > 0:
		return memberProblemText(db.ErrAdministratorInboxes)
	}
	for _, id := range ids {
		if id <= 0 {
			return "Inbox ids are positive numbers."
		}
	}
	return ""
}

// memberProblem is the one place that words a member change the store refused: the
// status, the field it concerns ("" for none) and the message. ok is false for errors
// that are not refusals (they are failures: 500).
func memberProblem(err error) (status int, field, message string, ok bool) {
	var unknown *db.UnknownInboxesError
	switch {
	case errors.Is(err, db.ErrAlreadyMember):
		return http.StatusConflict, "email", memberProblemText(err), true
	case errors.Is(err, db.ErrLastAdministrator):
		return http.StatusConflict, "role", memberProblemText(err), true
	case errors.Is(err, db.ErrAdministratorInboxes):
		return http.StatusUnprocessableEntity, "inbox_ids", memberProblemText(err), true
	case errors.As(err, &unknown):
		return http.StatusUnprocessableEntity, "inbox_ids", memberProblemText(err), true
	case errors.Is(err, db.ErrPasswordChosen):
		return http.StatusConflict, "", memberProblemText(err), true
	}
	return 0, "", "", false
}

func memberProblemText(err error) string {
	var unknown *db.UnknownInboxesError
	switch {
	case errors.Is(err, db.ErrAlreadyMember):
		return "This person is already a member of this account."
	case errors.Is(err, db.ErrLastAdministrator):
		return "This is the account's last administrator, who cannot be removed or made an agent. Make someone else an administrator first."
	case errors.Is(err, db.ErrAdministratorInboxes):
		return "Administrators see every inbox; assign inboxes to agents only."
	case errors.As(err, &unknown):
		return "There is " + unknown.Error() + "."
	case errors.Is(err, db.ErrPasswordChosen):
		return "This person has chosen their own password or also belongs to another account, so it is not this account's to replace. The server's operator can set one with `web user passwd`."
	}
	return ""
}
