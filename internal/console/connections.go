package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/pkg/model"
)

// statuses are the filter's choices, in the order the counts show them.
var statuses = []string{model.StatusActive, model.StatusNeedsReauth, model.StatusDisabled}

// listData is the connections page's content.
type listData struct {
	Counts    []statusCount
	Total     int64
	Statuses  []string
	Providers []string
	Filter    Query
	Page      *Page
	// FirstURL and NextURL are the pager's links, "" when not shown.
	FirstURL, NextURL string
	Flash             string
}

type statusCount struct {
	Status string
	N      int64
}

// list is the connections page: counts, filters, one page of rows.
func (c *console) list(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	q := queryOf(qv)
	d, ok := c.countsData(w, r, q)
	if !ok {
		return
	}
	page, err := c.Backend.Connections(r.Context(), q)
	if err != nil {
		c.serverError(w, r, "list the connections", err)
		return
	}
	d.Statuses, d.Page, d.Providers = statuses, page, c.providerNames()
	filter := url.Values{}
	for k, v := range map[string]string{"status": q.Status, "provider": q.Provider, "name": q.Name} {
		if v != "" {
			filter.Set(k, v)
		}
	}
	if q.After != "" {
		d.FirstURL = c.url("/console/?" + filter.Encode())
	}
	if page.Next != "" {
		filter.Set("after", page.Next)
		d.NextURL = c.url("/console/?" + filter.Encode())
	}
	if name := qv.Get("deleted"); name != "" {
		d.Flash = "Deleted " + name + "."
	}
	c.render(w, r, http.StatusOK, "connections", d)
}

// queryOf is the list's filter and position as the page's URL has them.
func queryOf(qv url.Values) Query {
	return Query{Status: qv.Get("status"), Provider: qv.Get("provider"), Name: strings.TrimSpace(qv.Get("name")), After: qv.Get("after")}
}

// countsData is the counts by status for a list filtered by q; false
// when they could not be read (the page has been answered).
func (c *console) countsData(w http.ResponseWriter, r *http.Request, q Query) (listData, bool) {
	counts, err := c.Backend.StatusCounts(r.Context())
	if err != nil {
		c.serverError(w, r, "count the connections", err)
		return listData{}, false
	}
	d := listData{Filter: q, Counts: orderCounts(counts)}
	for _, n := range counts {
		d.Total += n
	}
	return d, true
}

// counts returns the counts by status as HTML, for the list's script to
// swap in after changes: a connection that changes status moves from one
// count to another, whether or not its row is in view. The query is the
// page's, so that the count it is filtered by stays marked.
func (c *console) counts(w http.ResponseWriter, r *http.Request) {
	if d, ok := c.countsData(w, r, queryOf(r.URL.Query())); ok {
		c.fragment(w, r, "connections", "counts", d)
	}
}

// orderCounts lists the known statuses first, each even at zero, then any
// other the table holds.
func orderCounts(m map[string]int64) []statusCount {
	out := make([]statusCount, 0, len(m)+len(statuses))
	for _, s := range statuses {
		out = append(out, statusCount{s, m[s]})
	}
	var others []string
	for s := range m {
		if !slices.Contains(statuses, s) {
			others = append(others, s)
		}
	}
	slices.Sort(others)
	for _, s := range others {
		out = append(out, statusCount{s, m[s]})
	}
	return out
}

// providerNames are the filter's provider choices.
func (c *console) providerNames() []string {
	var out []string
	for _, p := range c.Backend.Providers() {
		out = append(out, p.Name)
	}
	return out
}

// maxRows bounds what one live update may fetch: a page's worth.
const maxRows = 200

// rowUpdate is what a live update answers for one row in view.
type rowUpdate struct {
	Name string
	// Conn is the connection as stored now, nil when it was deleted.
	Conn *model.OAuthToken
	// Filtered: the connection no longer matches the page's filter.
	Filtered bool
}

// rows returns the rows of the connections named by ?row= as HTML, for
// the list's script to swap in after a change, judged by the page's
// filter (its status, provider and name, in the same query): a row that
// no longer matches it, or whose connection was deleted, comes back
// marked so, and the script says so on the page rather than leave what
// it showed as if it were still true.
func (c *console) rows(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	names := qv["row"]
	if len(names) > maxRows {
		c.fail(w, r, http.StatusBadRequest, "Too many rows", fmt.Sprintf("At most %d rows at a time.", maxRows))
		return
	}
	found, err := c.Backend.ConnectionsNamed(r.Context(), names)
	if err != nil {
		c.serverError(w, r, "read the connections", err)
		return
	}
	q := queryOf(qv)
	out := make([]rowUpdate, 0, len(names))
	for _, n := range names {
		conn := found[n] // nil: deleted
		out = append(out, rowUpdate{Name: n, Conn: conn, Filtered: conn != nil && !stillListed(q, conn)})
	}
	c.fragment(w, r, "rows", "rows", out)
}

// stillListed reports whether a connection whose row a list filtered by
// q shows still belongs in it: its status and provider are matched as
// the list's query matches them (exactly). The name filter is not matched
// again: a name never changes, and the row matched it when it was listed.
func stillListed(q Query, conn *model.OAuthToken) bool {
	return (q.Status == "" || conn.Status == q.Status) && (q.Provider == "" || conn.Provider == q.Provider)
}

// connData is a connection page's content.
type connData struct {
	Conn   *model.OAuthToken
	Events []store.Event
	// Warning is the refresh-token death warning, "" when all is well.
	Warning      string
	Flash, Error string
	// Link is a reconnect link just created, shown once.
	Link *Link
	TTLs []ttlChoice
	// Reconnectable: the connection has a person's consent to renew
	// (the refresh_token grant). A machine grant's (client_credentials,
	// jwt_bearer, github_app) tokens come from its own credentials, and
	// the Backend refuses to reconnect it, so its page offers no button.
	Reconnectable bool
}

// eventsShown is how many events the timeline shows.
const eventsShown = 50

// connection is a connection's page.
func (c *console) connection(w http.ResponseWriter, r *http.Request) {
	c.showConnection(w, r, http.StatusOK, connData{Flash: flashOf(r.URL.Query().Get("done"))})
}

// showConnection renders the page of the connection in the path, with
// what d already holds (a message, a new link).
func (c *console) showConnection(w http.ResponseWriter, r *http.Request, status int, d connData) {
	name := r.PathValue("name")
	conn, err := c.Backend.Connection(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "No such connection", "There is no connection named "+name+".")
		return
	}
	if err != nil {
		c.serverError(w, r, "read the connection", err)
		return
	}
	events, err := c.Backend.Events(r.Context(), name, eventsShown)
	if err != nil {
		c.serverError(w, r, "read the events", err)
		return
	}
	d.Conn, d.Events, d.TTLs = conn, events, ttlChoices
	d.Reconnectable = conn.Grant == "" || conn.Grant == model.GrantRefreshToken
	d.Warning = refreshWarning(conn, c.Now(), c.ReauthWarning)
	c.render(w, r, status, "connection", d)
}

// refreshWarning says when a connection's refresh token is dead or about
// to die, so that someone reconnects it before the access token goes too.
func refreshWarning(conn *model.OAuthToken, now time.Time, soon time.Duration) string {
	switch {
	case conn.Status == model.StatusNeedsReauth:
		return "the provider refused it. The connection needs a person to reconnect it."
	case conn.RefreshTokenExpires == nil || conn.Grant != model.GrantRefreshToken && conn.Grant != "":
		return ""
	case !conn.RefreshTokenExpires.After(now):
		return "it expired " + relative(*conn.RefreshTokenExpires, now) + ". Reconnect before the access token runs out."
	case conn.RefreshTokenExpires.Sub(now) < soon:
		return "it expires " + relative(*conn.RefreshTokenExpires, now) + ". Reconnect before then."
	}
	return ""
}

// flashOf is the message of a ?done= after an action: a fixed set, so
// that a link cannot put words on the page.
func flashOf(done string) string {
	return map[string]string{
		"refreshed": "Refreshed.",
		"disabled":  "Disabled: the worker no longer refreshes it.",
		"enabled":   "Enabled: the worker refreshes it again.",
		"connected": "Connected: the new tokens are stored.",
		"revoked":   "Key revoked.",
	}[done]
}

// refresh refreshes the connection now; the page shows the new version.
func (c *console) refresh(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, "refresh", "refreshed", "Refresh failed: ", func(ctx context.Context, name string) error {
		_, err := c.Backend.Refresh(ctx, name)
		return err
	})
}

func (c *console) disable(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, "disable", "disabled", "Could not disable: ", c.Backend.Disable)
}

func (c *console) enable(w http.ResponseWriter, r *http.Request) {
	c.act(w, r, "enable", "enabled", "Could not enable: ", c.Backend.Enable)
}

// act does action to the connection in the path: done, it writes the
// audit line and goes back to the page with the flash of done; refused,
// the page says what failed, after failed.
func (c *console) act(w http.ResponseWriter, r *http.Request, action, done, failed string, do func(context.Context, string) error) {
	name := r.PathValue("name")
	if err := do(r.Context(), name); err != nil {
		c.actionFailed(w, r, failed, err)
		return
	}
	c.audit(r, action, "connection", name)
	c.backToConnection(w, r, done)
}

// delete deletes the connection once the name typed matches it: the
// server checks, whatever the page's script did.
func (c *console) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if r.PostFormValue("confirm") != name {
		c.showConnection(w, r, http.StatusBadRequest, connData{Error: "Not deleted: type the connection's name exactly to confirm."})
		return
	}
	if err := c.Backend.Delete(r.Context(), name); err != nil {
		c.actionFailed(w, r, "Could not delete: ", err)
		return
	}
	c.audit(r, "delete", "connection", name)
	http.Redirect(w, r, c.url("/console/?deleted="+url.QueryEscape(name)), http.StatusSeeOther)
}

// actionFailed shows the connection's page with what went wrong. The
// application's errors are fit to show: provider errors are scrubbed of
// every secret before they leave it.
func (c *console) actionFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "No such connection", "There is no connection named "+r.PathValue("name")+".")
		return
	}
	c.Logger.Warn("console: action failed", "connection", r.PathValue("name"), "err", err)
	c.showConnection(w, r, http.StatusBadRequest, connData{Error: what + fullStop(err.Error())})
}

// backToConnection answers a successful action with a 303 to the page,
// so that reloading it does not post again.
func (c *console) backToConnection(w http.ResponseWriter, r *http.Request, done string) {
	http.Redirect(w, r, c.url("/console/connections/"+url.PathEscape(r.PathValue("name"))+"?done="+done), http.StatusSeeOther)
}
