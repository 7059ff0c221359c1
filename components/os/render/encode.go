package render

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"unicode/utf8"
)

// The user data ends up in a Secret (1 MiB at most) and, for many backends,
// in a machine's metadata, so every file gets the encoding that makes it
// smallest in the output — except Plain files, which stay readable. The
// candidates are measured as they will be written, not estimated.

// minGzip is the size below which gzip is not tried: its header, trailer and
// base64 make small content larger.
const minGzip = 128

// compressor gzips content for one rendering, reusing its writer: a gzip
// writer's state is about a megabyte, too much to allocate per file.
type compressor struct {
	w   *gzip.Writer
	buf bytes.Buffer
}

// gzip compresses data at the best level. The output is deterministic: the
// header carries no name and no time. It is valid until the next call.
func (c *compressor) gzip(data []byte) []byte {
	c.buf.Reset()
	if c.w == nil {
		c.w, _ = gzip.NewWriterLevel(&c.buf, gzip.BestCompression) // the level is valid
	} else {
		c.w.Reset(&c.buf)
	}
	_, _ = c.w.Write(data) // a bytes.Buffer does not fail
	_ = c.w.Close()
	return c.buf.Bytes()
}

func base64String(prefix string, data []byte) string {
	out := make([]byte, len(prefix)+base64.StdEncoding.EncodedLen(len(data)))
	copy(out, prefix)
	base64.StdEncoding.Encode(out[len(prefix):], data)
	return string(out)
}

// ignitionContents returns a file's data URL and compression ("" or "gzip"):
// percent-encoded when the file is Plain, otherwise the smallest of
// percent-encoded, base64 and gzip+base64 (counting the compression field).
func ignitionContents(f *File, z *compressor) (source, compression string) {
	source = percentDataURL(f.Data)
	if f.Plain {
		return source, ""
	}
	if b := base64String("data:;base64,", f.Data); len(b) < len(source) {
		source = b
	}
	if len(f.Data) >= minGzip {
		const field = len(`,"compression":"gzip"`)
		if z := base64String("data:;base64,", z.gzip(f.Data)); len(z)+field < len(source) {
			return z, "gzip"
		}
	}
	return source, ""
}

// percentDataURL encodes data as an RFC 2397 data URL without base64: every
// byte but RFC 3986's unreserved characters and the sub-delimiters, ':', '@'
// and '/' is percent-encoded. '<' and '>' are always encoded, so placeholders
// such as <<BOOTSTRAP_TOKEN>> read exactly as the machine-controller-manager
// looks for them (url.QueryEscape of the placeholder). Nothing left raw needs
// escaping in JSON (the config is written without HTML escaping).
func percentDataURL(data []byte) string {
	const prefix, hex = "data:,", "0123456789ABCDEF"
	n := len(prefix)
	for _, c := range data {
		if rawInDataURL(c) {
			n++
		} else {
			n += 3
		}
	}
	out := make([]byte, n)
	i := copy(out, prefix)
	for _, c := range data {
		if rawInDataURL(c) {
			out[i] = c
			i++
			continue
		}
		out[i], out[i+1], out[i+2] = '%', hex[c>>4], hex[c&15]
		i += 3
	}
	return string(out)
}

// rawInDataURL reports whether c may stay as it is in a data URL: RFC 3986's
// unreserved characters and sub-delimiters, ':', '@' and '/'. All of them are
// URL characters for the data URL parser Ignition uses.
func rawInDataURL(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return true
	}
	return false
}

// cloudInitContent writes the encoding and content keys of a write_files
// entry: for Plain content a literal block where YAML allows one, else a
// double-quoted scalar (base64 when it is not UTF-8); otherwise the smallest
// of those, base64 and gzip+base64.
func cloudInitContent(b *bytes.Buffer, data []byte, plain bool, z *compressor) {
	var best []byte
	consider := func(write func(*bytes.Buffer) bool) {
		var c bytes.Buffer
		if write(&c) && (best == nil || c.Len() < len(best)) {
			best = c.Bytes()
		}
	}
	text := utf8.Valid(data)
	if plain && text {
		// Readable first: a literal block, as the text looks in the file.
		b.WriteString("    content: ")
		if !writeLiteral(b, data, "      ") {
			writeDoubleQuoted(b, string(data))
		}
		b.WriteByte('\n')
		return
	}
	if text {
		consider(func(c *bytes.Buffer) bool {
			c.WriteString("    content: ")
			if !writeLiteral(c, data, "      ") {
				return false
			}
			c.WriteByte('\n')
			return true
		})
		consider(func(c *bytes.Buffer) bool {
			c.WriteString("    content: ")
			writeDoubleQuoted(c, string(data))
			c.WriteByte('\n')
			return true
		})
	}
	{
		consider(func(c *bytes.Buffer) bool {
			c.WriteString("    encoding: b64\n    content: \"")
			c.WriteString(base64String("", data))
			c.WriteString("\"\n")
			return true
		})
	}
	if !plain && len(data) >= minGzip {
		consider(func(c *bytes.Buffer) bool {
			c.WriteString("    encoding: gz+b64\n    content: \"")
			c.WriteString(base64String("", z.gzip(data)))
			c.WriteString("\"\n")
			return true
		})
	}
	b.Write(best)
}
