package render

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The YAML written here must read back the same with YAML 1.1 readers
// (cloud-init uses PyYAML) and YAML 1.2 ones.

// writeScalar writes s plain where that is unambiguous — a letter, / or --
// and a letter first, then letters, digits and /_.@+- only, and not one of
// YAML 1.1's booleans or null — and double-quoted otherwise.
func writeScalar(b *bytes.Buffer, s string) {
	if plainSafe(s) {
		b.WriteString(s)
		return
	}
	writeDoubleQuoted(b, s)
}

func plainSafe(s string) bool {
	if s == "" {
		return false
	}
	letter := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	if !(s[0] == '/' || letter(s[0]) || len(s) > 2 && strings.HasPrefix(s, "--") && letter(s[2])) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/_.@+-", c) >= 0) {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// writeDoubleQuoted writes s as a double-quoted scalar, escaping what YAML
// does not allow raw: quotes, backslashes, line breaks (including YAML 1.1's
// NEL, LS and PS), control characters, BOM and non-characters. Characters
// beyond the BMP are escaped too, for readers without them.
func writeDoubleQuoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02X`, r)
		case 0x80 <= r && r <= 0xa0, r == 0x2028, r == 0x2029, r == 0xfeff, r == 0xfffe, r == 0xffff:
			fmt.Fprintf(b, `\u%04X`, r)
		case r > 0xffff:
			fmt.Fprintf(b, `\U%08X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// writeLiteral writes data as a literal block scalar indented by indent, if
// a block can hold it exactly: text with at least one line break, printable
// characters and tabs only, no line ending in a blank (readers are not
// consistent about those) and none starting with a tab (not indentation
// YAML allows). It reports whether it wrote anything.
func writeLiteral(b *bytes.Buffer, data []byte, indent string) bool {
	if !literalSafe(data) {
		return false
	}
	body := bytes.TrimRight(data, "\n")
	trailing := len(data) - len(body)
	b.WriteByte('|')
	// An indentation indicator when the first line starts with a space, which
	// would otherwise be taken for indentation.
	if body[0] == ' ' {
		b.WriteByte('2')
	}
	switch trailing {
	case 0:
		b.WriteByte('-')
	case 1:
	default:
		b.WriteByte('+')
	}
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		b.WriteByte('\n')
		if len(line) > 0 {
			b.WriteString(indent)
			b.Write(line)
		}
	}
	// Kept trailing line breaks beyond the one ending the last line.
	for range trailing - 1 {
		b.WriteByte('\n')
	}
	return true
}

func literalSafe(data []byte) bool {
	if bytes.IndexByte(data, '\n') < 0 {
		return false
	}
	body := bytes.TrimRight(data, "\n")
	if len(body) == 0 {
		return false
	}
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if n := len(line); n > 0 && (line[n-1] == ' ' || line[n-1] == '\t' || line[0] == '\t') {
			return false
		}
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		switch {
		case r == '\n', r == '\t':
		case r < 0x20, r == 0x7f, 0x80 <= r && r <= 0xa0, r == 0x2028, r == 0x2029, r == 0xfeff, r == 0xfffe, r == 0xffff, r > 0xffff, r == utf8.RuneError:
			return false
		}
	}
	// A first line that is empty makes readers guess the indentation from a
	// later line; leave such text to double quotes.
	return body[0] != '\n'
}
