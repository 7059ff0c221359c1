package droplog

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/florianl/go-nflog/v2"
	"github.com/go-logr/logr"
)

// Packet is what is logged about a dropped packet.
type Packet struct {
	Prefix           string
	InDev, OutDev    string
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// Logger logs the packets of one nflog group.
type Logger struct {
	Group uint16
	// NetNS, if non-zero, is a network namespace file descriptor to listen in.
	NetNS int
	Log   logr.Logger
	// OnPacket, if set, is called for every packet (tests, metrics).
	OnPacket func(Packet)
}

// Start subscribes to the group and logs until ctx ends (manager.Runnable).
func (l *Logger) Start(ctx context.Context) error {
	nf, err := nflog.Open(&nflog.Config{Group: l.Group, Copymode: nflog.CopyPacket, Bufsize: 128, NetNS: l.NetNS})
	if err != nil {
		return fmt.Errorf("open nflog group %d: %w", l.Group, err)
	}
	defer nf.Close()
	err = nf.RegisterWithErrorFunc(ctx, func(a nflog.Attribute) int {
		p := parse(a, l.NetNS == 0)
		if l.OnPacket != nil {
			l.OnPacket(p)
		}
		kv := []any{"chain", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p.Prefix), ":")), "in", p.InDev, "out", p.OutDev,
			"src", p.Src.String(), "dst", p.Dst.String(), "proto", protoName(p.Proto)}
		if p.Proto == 6 || p.Proto == 17 {
			kv = append(kv, "srcPort", p.SrcPort, "dstPort", p.DstPort)
		}
		l.Log.Info("packet dropped", kv...)
		return 0
	}, func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		l.Log.Error(err, "reading nflog")
		return 0
	})
	if err != nil {
		return fmt.Errorf("subscribe to nflog group %d: %w", l.Group, err)
	}
	<-ctx.Done()
	return nil
}

// NeedLeaderElection: every firewall logs its own drops.
func (l *Logger) NeedLeaderElection() bool { return false }

func parse(a nflog.Attribute, names bool) Packet {
	var p Packet
	if a.Prefix != nil {
		p.Prefix = *a.Prefix
	}
	p.InDev, p.OutDev = ifName(a.InDev, names), ifName(a.OutDev, names)
	if a.Payload == nil {
		return p
	}
	b := *a.Payload
	var l4 []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		p.Src, _ = netip.AddrFromSlice(b[12:16])
		p.Dst, _ = netip.AddrFromSlice(b[16:20])
		p.Proto = b[9]
		if ihl := int(b[0]&0x0f) * 4; len(b) >= ihl {
			l4 = b[ihl:]
		}
	case len(b) >= 40 && b[0]>>4 == 6:
		p.Src, _ = netip.AddrFromSlice(b[8:24])
		p.Dst, _ = netip.AddrFromSlice(b[24:40])
		p.Proto = b[6] // without extension headers
		l4 = b[40:]
	}
	if (p.Proto == 6 || p.Proto == 17) && len(l4) >= 4 {
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	}
	return p
}

// ifName names an interface by index; names are only looked up when the
// logger runs in the firewall's own network namespace.
func ifName(idx *uint32, names bool) string {
	if idx == nil {
		return ""
	}
	if i, err := net.InterfaceByIndex(int(*idx)); err == nil && names {
		return i.Name
	}
	return fmt.Sprint(*idx)
}

func protoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	}
	return fmt.Sprint(p)
}
