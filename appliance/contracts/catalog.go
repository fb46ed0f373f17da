package contracts

import (
	"sync"

	"cxt/appliance/errs"
)

// NextVersion is the versioning rule: a draft checked as a template becomes
// version 1, or the version after latest; a draft that says exactly what
// latest says is refused (template_unchanged) rather than published twice.
// Published versions never change: a contract cites its version and digest.
func NextVersion(latest *Template, draft Template) (Template, error) {
	draft.Version = 1
	if latest != nil {
		if latest.ID != draft.ID {
			return Template{}, errs.E("publish template", errs.Internal, "latest is template %q, the draft %q", latest.ID, draft.ID)
		}
		if sameContent(*latest, draft) {
			return Template{}, errs.Coded("publish template", errs.Conflict, CodeTemplateUnchanged, "template %s v%d already says this", latest.ID, latest.Version)
		}
		draft.Version = latest.Version + 1
	}
	if err := draft.Check(); err != nil {
		return Template{}, err
	}
	draft.Variables = append([]Variable(nil), draft.Variables...)
	return draft, nil
}

// Catalog holds every version of every template in memory, for a node that
// keeps them in its state and for tests; the replicated store keeps the same
// records and applies the same rule (NextVersion).
type Catalog struct {
	mu        sync.Mutex
	templates map[string][]Template // by ID, version i at index i-1
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog { return &Catalog{templates: map[string][]Template{}} }

// Publish adds draft as the next version of its template and returns it.
func (c *Catalog) Publish(draft Template) (Template, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var latest *Template
	if vs := c.templates[draft.ID]; len(vs) > 0 {
		latest = &vs[len(vs)-1]
	}
	t, err := NextVersion(latest, draft)
	if err != nil {
		return Template{}, err
	}
	c.templates[t.ID] = append(c.templates[t.ID], t)
	return clone(t), nil
}

// Get returns one version of a template; version 0 means the latest.
func (c *Catalog) Get(id string, version int) (Template, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	vs := c.templates[id]
	if version == 0 {
		version = len(vs)
	}
	if version < 1 || version > len(vs) {
		return Template{}, errs.E("get template", errs.NotExist, "no template %q version %d", id, version)
	}
	return clone(vs[version-1]), nil
}

func clone(t Template) Template {
	t.Variables = append([]Variable(nil), t.Variables...)
	return t
}
