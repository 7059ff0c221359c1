package providerid

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scheme is the provider ID scheme, also the cloud provider name.
const Scheme = "metal"

// ID is a parsed provider ID.
type ID struct {
	// Scope is the claim namespace (ironcore) or machine partition (metal-stack).
	Scope string
	// Name is the claim name (ironcore) or the machine UUID (metal-stack).
	Name string
}

// New returns the ID for scope and name.
func New(scope, name string) ID { return ID{Scope: scope, Name: name} }

// String renders the ID as metal://<scope>/<name>.
func (id ID) String() string { return Scheme + "://" + id.Scope + "/" + id.Name }

// Parse parses metal://<scope>/<name> and metal:///<scope>/<name>.
func Parse(s string) (ID, error) {
	rest, ok := strings.CutPrefix(s, Scheme+"://")
	if !ok {
		return ID{}, fmt.Errorf("provider ID %q: want scheme %q", s, Scheme+"://")
	}
	rest = strings.TrimPrefix(rest, "/") // metal:///<partition>/<id>
	scope, name, ok := strings.Cut(rest, "/")
	if !ok || scope == "" || name == "" || strings.Contains(name, "/") {
		return ID{}, fmt.Errorf("provider ID %q: want %s://<scope>/<name>", s, Scheme)
	}
	// Scopes and names are namespaces, partitions, claim names and UUIDs:
	// printable and without spaces. Anything else (a newline, say) is not an
	// ID this or an upstream stack wrote, and would end up in logs and
	// backend queries.
	if !utf8.ValidString(rest) {
		return ID{}, fmt.Errorf("provider ID %q: not valid UTF-8", s)
	}
	if i := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(rest[i:])
		return ID{}, fmt.Errorf("provider ID %q: character %q at byte %d is not allowed", s, r, len(s)-len(rest)+i)
	}
	return ID{Scope: scope, Name: name}, nil
}
