package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokenwarden/tokenwarden/internal/store"
)

// pages holds one template set per page: the layout, the shared
// partials and the page's own file.
type pages struct {
	sets map[string]*template.Template
}

// view is what the layout renders: the page's own data is Data.
type view struct {
	Session *Session
	// Nav names the section of the navigation that is current.
	Nav  string
	Data any
}

// mustParsePages parses the embedded templates; they are part of the
// binary, so an error is a bug found by any test.
func mustParsePages(now func() time.Time, prefix string) *pages {
	funcs := templateFuncs(now, prefix)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		p.sets[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", f))
	}
	return p
}

// render writes the page name with status. A template that fails to
// execute is a bug: the buffered page is dropped for a plain 500.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	c.write(w, r, status, name, "layout.html", data)
}

// fragment writes one named template of a page's set without the layout
// (the rows a live update fetches).
func (c *console) fragment(w http.ResponseWriter, r *http.Request, set, name string, data any) {
	c.write(w, r, http.StatusOK, set, name, data)
}

func (c *console) write(w http.ResponseWriter, r *http.Request, status int, set, name string, data any) {
	t, ok := c.pages.sets[set]
	if !ok {
		panic("console: no page " + set)
	}
	v := view{Session: sessionOf(r.Context()), Nav: set, Data: data}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, v); err != nil {
		c.Logger.Error("console: render", "page", set, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = b.WriteTo(w)
}

// failure is the error page's content.
type failure struct {
	Title, Message string
	// Back is a link to offer, "" for none.
	Back string
}

// fail shows a person what went wrong, with status.
func (c *console) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	c.render(w, r, status, "error", failure{Title: title, Message: msg})
}

// serverError logs err and shows a page that says no more than that
// something failed: the error may name internals a person has no use for.
func (c *console) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	c.Logger.Error("console: "+what, "err", err)
	c.fail(w, r, http.StatusInternalServerError, "Something went wrong",
		"The server could not "+what+". The error is in its log.")
}

// templateFuncs are the helpers the templates share. Times are shown
// relative to now, with the exact UTC time in the title attribute.
func templateFuncs(now func() time.Time, prefix string) template.FuncMap {
	return template.FuncMap{
		// base is the path prefix of TOKENS_PUBLIC_URL, which every link
		// of a page starts with.
		"base":      func() string { return prefix },
		"when":      func(t any) timeView { return timeOf(t, now(), false) },
		"left":      func(t any) timeView { return timeOf(t, now(), true) },
		"str":       store.Str[string],
		"copyField": func(id, label, value string) copyView { return copyView{id, label, value} },
		"path":      url.PathEscape,
		"query":     url.QueryEscape,
		"pretty":    prettyJSON,
		"badge":     badgeClass,
		"ms": func(d *int64) string {
			if d == nil {
				return ""
			}
			return fmt.Sprintf("%d ms", *d)
		},
		"int": func(p *int) string {
			if p == nil {
				return ""
			}
			return fmt.Sprint(*p)
		},
	}
}

// copyView is a value shown once, in a read-only field with a copy
// button (the "copy" partial).
type copyView struct{ ID, Label, Value string }

// timeView is a time as a page shows it (the "time" partial): the text
// relative to now, the exact UTC time for its title and datetime; a
// countdown is kept current by the page's script.
type timeView struct {
	Exact, Text      string
	Never, Countdown bool
}

// timeOf makes the timeView of a time.Time or *time.Time (nil: never).
func timeOf(v any, now time.Time, countdown bool) timeView {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return timeView{Never: true}
		}
		t = *x
	default:
		panic(fmt.Sprintf("console: time of %T", v))
	}
	return timeView{Exact: t.UTC().Format(time.RFC3339), Text: relative(t, now), Countdown: countdown}
}

// relative says how far t is from now, in its two largest units: "in 4m
// 10s", "3h 2m ago". The page's script uses the same wording.
func relative(t, now time.Time) string {
	d := t.Sub(now)
	if d > -time.Second && d < time.Second {
		return "now"
	}
	if d > 0 {
		return "in " + span(d)
	}
	return span(-d) + " ago"
}

// span is a positive duration in its two largest units.
func span(d time.Duration) string {
	units := []struct {
		n    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for i, u := range units {
		if d < u.n {
			continue
		}
		s := fmt.Sprintf("%d%s", d/u.n, u.name)
		if i+1 < len(units) {
			if rest := (d % u.n) / units[i+1].n; rest > 0 {
				s += fmt.Sprintf(" %d%s", rest, units[i+1].name)
			}
		}
		return s
	}
	return "0s"
}

// prettyJSON indents a JSON value for display; "" for none.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// badgeClass is the CSS class of a status or an event outcome.
func badgeClass(s string) string {
	switch s {
	case "active", "success", "ok":
		return "badge good"
	case "needs_reauth", "reauth", "config":
		return "badge bad"
	case "disabled":
		return "badge off"
	default:
		return "badge warn"
	}
}

// fullStop ends msg, an error's text, with a full stop, so that a
// sentence can follow it.
func fullStop(msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" || strings.ContainsAny(msg[len(msg)-1:], ".!?") {
		return msg
	}
	return msg + "."
}

// sentence is msg as a sentence of its own: capitalized, with its full
// stop.
func sentence(msg string) string {
	msg = fullStop(msg)
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:]
}

// nothingChanged is the message of a refused authorization: the error's
// sentence, then that nothing changed unless it already says so.
func nothingChanged(msg string) string {
	msg = sentence(msg)
	switch {
	case msg == "":
		return "Nothing was changed."
	case strings.Contains(strings.ToLower(msg), "nothing was"):
		return msg
	}
	return msg + " Nothing was changed."
}
