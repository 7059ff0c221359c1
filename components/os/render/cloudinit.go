package render

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// CloudConfigHeader starts every cloud-config document.
const CloudConfigHeader = "#cloud-config\n"

// CloudInit renders the plan as a #cloud-config document.
//
// write_files carries the files, then the unit files and drop-ins (mode
// 0644). runcmd reloads systemd, enables or disables each unit and runs its
// command; start and restart do not block, so units ordered after
// cloud-final.service cannot deadlock the boot.
func CloudInit(p *Plan) ([]byte, error) {
	files := seq(0)
	for _, f := range p.Files {
		files.Content = append(files.Content, writeFile(f.Path, mode(f.Mode), f.Data, f.Plain))
	}
	runcmd := seq(0)
	if len(p.Units) > 0 {
		runcmd.Content = append(runcmd.Content, command("systemctl", "daemon-reload"))
	}
	for _, u := range p.Units {
		if u.Content != nil {
			files.Content = append(files.Content, writeFile(UnitPath(u.Name), 0o644, []byte(*u.Content), true))
		}
		for _, d := range u.DropIns {
			files.Content = append(files.Content, writeFile(DropInPath(u.Name, d.Name), 0o644, []byte(d.Content), true))
		}
	}
	for _, u := range p.Units {
		if u.Enable && u.Command != CommandStop {
			runcmd.Content = append(runcmd.Content, command("systemctl", "enable", u.Name))
		} else {
			runcmd.Content = append(runcmd.Content, command("systemctl", "disable", u.Name))
		}
		switch u.Command {
		case CommandStart, CommandRestart:
			runcmd.Content = append(runcmd.Content, command("systemctl", string(u.Command), "--no-block", u.Name))
		case CommandStop:
			runcmd.Content = append(runcmd.Content, command("systemctl", "stop", "--no-block", u.Name))
		}
	}

	doc := &yaml.Node{Kind: yaml.MappingNode}
	if len(files.Content) > 0 {
		doc.Content = append(doc.Content, str("write_files"), files)
	}
	if len(runcmd.Content) > 0 {
		doc.Content = append(doc.Content, str("runcmd"), runcmd)
	}

	var buf bytes.Buffer
	buf.WriteString(CloudConfigHeader)
	if len(doc.Content) == 0 {
		// cloud-init wants a mapping, even an empty one.
		buf.WriteString("{}\n")
		return buf.Bytes(), nil
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}); err != nil {
		return nil, fmt.Errorf("encode cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode cloud-config: %w", err)
	}
	return buf.Bytes(), nil
}

func writeFile(path string, mode uint32, data []byte, plain bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	n.Content = append(n.Content, str("path"), str(path), str("permissions"), quoted(fmt.Sprintf("0%03o", mode)))
	if plain && utf8.Valid(data) {
		// Single lines are double-quoted: cloud-init reads YAML 1.1, where
		// a plain yes, on or 0644 is no string. The emitter falls back from
		// literal to double-quoted style where a block cannot hold the text.
		content := quoted(string(data))
		if strings.Contains(content.Value, "\n") {
			content.Style = yaml.LiteralStyle
		}
		n.Content = append(n.Content, str("content"), content)
	} else {
		n.Content = append(n.Content, str("encoding"), str("b64"), str("content"), str(base64.StdEncoding.EncodeToString(data)))
	}
	return n
}

func command(args ...string) *yaml.Node {
	n := seq(yaml.FlowStyle)
	for _, a := range args {
		n.Content = append(n.Content, str(a))
	}
	return n
}

func seq(style yaml.Style) *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Style: style} }

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func quoted(s string) *yaml.Node {
	n := str(s)
	n.Style = yaml.DoubleQuotedStyle
	return n
}
