package provider

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// docs/providers.md lists every built-in template, and nothing else, with
// its aliases, grants, client authentication, API base and rotation as
// providers.json has them: a template added or changed without its line
// fails here.
func TestProvidersDocListsEveryTemplate(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/providers.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ aliases, grants, auth, apiBase, rotates string }
	rows := map[string]row{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		// The templates table: | template | grants | required params | auth | api_base_url | rotates | notes |
		if len(cells) != 9 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		head := strings.TrimSpace(cells[1])
		name, aliases, _ := strings.Cut(head, " ")
		rows[strings.Trim(name, "`")] = row{
			aliases: strings.NewReplacer("`", "", "(", "", ")", "").Replace(aliases),
			grants:  strings.TrimSpace(cells[2]),
			auth:    strings.TrimSpace(cells[4]),
			apiBase: strings.Trim(strings.TrimSpace(cells[5]), "`"),
			rotates: strings.TrimSpace(cells[6]),
		}
	}
	cat := NewCatalogue()
	for _, name := range cat.Names() {
		tmpl, _ := cat.Lookup(name)
		r, ok := rows[name]
		if !ok {
			t.Errorf("docs/providers.md has no line for template %s", name)
			continue
		}
		rotates := map[bool]string{true: "yes", false: "no"}[tmpl.Rotates]
		apiBase := tmpl.APIBaseURL
		if apiBase == "" {
			apiBase = "—"
		}
		want := row{strings.Join(tmpl.Aliases, ", "), strings.Join(tmpl.SupportedGrants(), ", "), tmpl.Auth, apiBase, rotates}
		if r != want {
			t.Errorf("docs/providers.md on %s: %+v, providers.json says %+v", name, r, want)
		}
	}
	for name := range rows {
		if !slices.Contains(cat.Names(), name) {
			t.Errorf("docs/providers.md lists %s, which is no template", name)
		}
	}
}
