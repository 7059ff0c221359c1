package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// elementBytes bounds the encoded size of the elements of one netlink
// message: a message's element list is one netlink attribute, whose length
// field has 16 bits and silently wraps past 64 KiB. Chunks are cut by bytes,
// not by count, so long keys (IPv6 concatenations with key ends) and long
// verdict chain names stay within it.
const elementBytes = 32 << 10

// elementSize is an upper bound of an element's encoded size in a
// NEWSETELEM/DELSETELEM message (attribute headers and padding included).
func elementSize(e nftables.SetElement) int {
	n := 4 + 8 // list element, flags
	n += 8 + align4(len(e.Key))
	if len(e.KeyEnd) > 0 {
		n += 8 + align4(len(e.KeyEnd))
	}
	if len(e.Val) > 0 {
		n += 8 + align4(len(e.Val))
	}
	if e.Timeout != 0 {
		n += 12
	}
	if v := e.VerdictData; v != nil {
		n += 4 + 4 + 8 + 4 + align4(len(v.Chain)+1)
	}
	if e.Comment != "" {
		n += 4 + 2 + align4(len(e.Comment)+1)
	}
	return n
}

func align4(n int) int { return (n + 3) &^ 3 }

// chunks cuts elements into runs whose encoded size stays within limit.
func chunks(elems []nftables.SetElement, limit int) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	start, size := 0, 0
	for i, e := range elems {
		n := elementSize(e)
		if i > start && size+n > limit {
			out = append(out, elems[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(elems) {
		out = append(out, elems[start:])
	}
	return out
}

// socketBuffer is the send and receive buffer the applier's netlink socket
// asks for (with CAP_NET_ADMIN, beyond the sysctl maximum): a batch is sent
// with one sendmsg, and the kernel queues one acknowledgement per message
// before the agent reads any of them.
const socketBuffer = 256 << 20

// Applier writes Tables to the kernel. Each Apply is one netlink batch, which
// the kernel commits completely or not at all, so a failed apply leaves the
// previous ruleset in place. After the first full apply, Apply sends only the
// difference to the table it applied last (changed chains are flushed and
// refilled, set elements added and removed, objects created and deleted
// within the same batch); after any failure, or when Drift finds the kernel
// differs from the last applied table, the next Apply replaces the whole
// table, again in one batch. Starting an Applier never touches the kernel:
// the ruleset of a previous run stays in force until the first Apply replaces
// it.
type Applier struct {
	mu      sync.Mutex
	conn    *nftables.Conn
	current *Table // last table committed; nil: replace the whole table next time
	cursor  int    // where Drift continues checking chains without a hook
}

// driftChains bounds how many chains without a hook (the per-rule chains)
// one Drift call reads rule by rule; the next call continues where it
// stopped, so a large table is covered over a few calls at a bounded cost.
// Chains with a hook and the fixed dispatch chains are read every time.
const driftChains = 512

// NewApplier opens a netlink connection; opts select e.g. a network namespace
// (nftables.WithNetNSFd).
func NewApplier(opts ...nftables.ConnOption) (*Applier, error) {
	opts = append([]nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(bigBuffers)}, opts...)
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink connection: %w", err)
	}
	return &Applier{conn: c}, nil
}

func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, socketBuffer); e != nil {
				serr = errors.Join(serr, e)
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		// without CAP_NET_ADMIN: the sysctl maximum is what we get
		_ = c.SetReadBuffer(socketBuffer)
		_ = c.SetWriteBuffer(socketBuffer)
	}
	return nil
}

// Close closes the netlink connection. The ruleset stays in the kernel.
func (a *Applier) Close() error { return a.conn.CloseLasting() }

// ApplyResult says what an Apply did.
type ApplyResult struct {
	Full     bool // the whole table was replaced
	Messages int  // netlink messages in the batch; 0: nothing to do
}

// Apply makes the kernel's table equal to t, in one batch.
func (a *Applier) Apply(t *Table) (ApplyResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t.Sort()
	b := newBatch(a.conn, t)
	full := a.current == nil || a.current.Name != t.Name || !b.diff(a.current)
	if full {
		k, err := a.kernelState(t.Name)
		if err != nil {
			a.current = nil
			return ApplyResult{Full: true}, err
		}
		b = newBatch(a.conn, t)
		b.full(k)
	}
	res := ApplyResult{Full: full, Messages: b.messages}
	if b.messages == 0 {
		return res, nil
	}
	if err := b.err; err == nil {
		err = a.conn.Flush()
		b.err = err
	}
	if b.err != nil {
		a.current = nil // resync from scratch next time
		return res, fmt.Errorf("apply nftables table %s: %w", t.Name, b.err)
	}
	a.current = t.Clone()
	return res, nil
}

// InstallIfAbsent applies t where the kernel has no table of its name, and
// leaves an existing one alone (a ruleset from a previous run stays in
// force). It reports whether it installed t. The agent installs its
// fail-closed table this way before it has read any policy.
func (a *Applier) InstallIfAbsent(t *Table) (bool, error) {
	a.mu.Lock()
	tables, err := a.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	a.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("list tables: %w", err)
	}
	for _, k := range tables {
		if k.Name == t.Name {
			return false, nil
		}
	}
	if _, err := a.Apply(t); err != nil {
		return false, err
	}
	return true, nil
}

// Invalidate makes the next Apply replace the whole table.
func (a *Applier) Invalidate() {
	a.mu.Lock()
	a.current = nil
	a.mu.Unlock()
}

// Delete removes the table from the kernel.
func (a *Applier) Delete(name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
	a.conn.AddTable(t)
	a.conn.DelTable(t)
	a.current = nil
	return a.conn.Flush()
}

// Clone returns a deep copy of the table (statements are values and shared).
func (t *Table) Clone() *Table {
	c := &Table{Name: t.Name, Counters: append([]string(nil), t.Counters...)}
	for _, s := range t.Sets {
		cs := *s
		cs.Key = append([]KeyType(nil), s.Key...)
		cs.Elements = append([]Element(nil), s.Elements...)
		c.Sets = append(c.Sets, &cs)
	}
	for _, ch := range t.Chains {
		cc := *ch
		cc.Rules = append([]Rule(nil), ch.Rules...)
		c.Chains = append(c.Chains, &cc)
	}
	return c
}

// batch builds the netlink messages for one transaction.
type batch struct {
	conn     *nftables.Conn
	t        *Table
	table    *nftables.Table
	sets     map[string]*nftables.Set
	chains   map[string]*nftables.Chain
	messages int
	err      error
}

func newBatch(conn *nftables.Conn, t *Table) *batch {
	b := &batch{conn: conn, t: t, table: &nftables.Table{Family: nftables.TableFamilyINet, Name: t.Name},
		sets: map[string]*nftables.Set{}, chains: map[string]*nftables.Chain{}}
	for _, s := range t.Sets {
		b.sets[s.Name] = b.nfSet(s)
	}
	for _, c := range t.Chains {
		b.chains[c.Name] = b.nfChain(c)
	}
	return b
}

func (b *batch) resolve(name string) *nftables.Set {
	if s, ok := b.sets[name]; ok {
		return s
	}
	b.err = errors.Join(b.err, fmt.Errorf("rule refers to unknown set %q", name))
	return &nftables.Set{Table: b.table, Name: name}
}

// kernel is what the kernel holds of a table before a full replace.
type kernel struct {
	exists   bool
	chains   map[string]*nftables.Chain
	sets     map[string]*nftables.Set
	elements map[string][]nftables.SetElement
	counters map[string]bool
}

func (a *Applier) kernelState(name string) (*kernel, error) {
	k := &kernel{chains: map[string]*nftables.Chain{}, sets: map[string]*nftables.Set{},
		elements: map[string][]nftables.SetElement{}, counters: map[string]bool{}}
	nt := &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
	tables, err := a.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		k.exists = k.exists || t.Name == name
	}
	if !k.exists {
		return k, nil
	}
	chains, err := a.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name == name {
			k.chains[c.Name] = c
		}
	}
	sets, err := a.conn.GetSets(nt)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range sets {
		s.Table = nt
		k.sets[s.Name] = s
		if k.elements[s.Name], err = a.conn.GetSetElements(s); err != nil {
			return nil, fmt.Errorf("list elements of set %s: %w", s.Name, err)
		}
	}
	counters, err := a.counters(name)
	if err != nil {
		return nil, err
	}
	for c := range counters {
		k.counters[c] = true
	}
	return k, nil
}

// full replaces the whole table in one batch. An existing table is not
// deleted: its base chains stay registered (a base chain created anew drops
// packets with its policy until the transaction commits), all rules are
// flushed and re-added, chains and counters no longer wanted are deleted.
// Set elements are diffed against the kernel's instead of being recreated:
// the kernel's interval-concatenation sets (pipapo) switch to a new element
// array only after the new rules are live, so a recreated set would miss
// packets for a moment. Counters that stay keep counting.
func (b *batch) full(k *kernel) {
	b.conn.AddTable(b.table)
	b.messages++
	keepChain := map[string]bool{}
	keepSet := map[string]bool{}
	if k.exists {
		b.conn.FlushTable(b.table)
		b.messages++
		for name, ks := range k.sets {
			if s := b.t.Set(name); s != nil && compatible(ks, s, k.elements[name]) {
				keepSet[name] = true
				continue
			}
			b.conn.DelSet(&nftables.Set{Table: b.table, Name: name})
			b.messages++
		}
		for _, s := range b.t.Sets {
			if keepSet[s.Name] && !s.Timeout {
				_, del := nfElementDiff(k.elements[s.Name], nfElements(s, s.Elements))
				b.rawElements(s, del, b.conn.SetDeleteElements)
			}
		}
		for name, kc := range k.chains {
			if c, ok := b.chains[name]; ok && sameHook(kc, c) {
				keepChain[name] = true
				continue
			}
			b.conn.DelChain(kc)
			b.messages++
		}
		for name := range k.counters {
			if !slicesContains(b.t.Counters, name) {
				b.conn.DeleteObject(&nftables.NamedObj{Table: b.table, Name: name, Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})
				b.messages++
			}
		}
	}
	for _, c := range b.t.Counters {
		if !k.counters[c] {
			b.addCounter(c)
		}
	}
	for _, c := range b.t.Chains {
		if !keepChain[c.Name] || c.Hook != nil { // AddChain on an existing base chain updates its policy
			b.conn.AddChain(b.chains[c.Name])
			b.messages++
		}
	}
	for _, s := range b.t.Sets {
		if keepSet[s.Name] {
			add, _ := nfElementDiff(k.elements[s.Name], nfElements(s, s.Elements))
			b.rawElements(s, add, b.conn.SetAddElements)
			continue
		}
		b.addSet(s)
		b.addElements(s, s.Elements)
	}
	for _, c := range b.t.Chains {
		b.addRules(c)
	}
}

// compatible says whether a kernel set can be kept as the wanted set.
func compatible(ks *nftables.Set, s *Set, elems []nftables.SetElement) bool {
	if ks.Interval != s.Interval || ks.IsMap != s.Map || ks.HasTimeout != s.Timeout || ks.Concatenation != (len(s.Key) > 1) {
		return false
	}
	keyLen := 0
	for _, k := range s.Key {
		if len(s.Key) > 1 {
			keyLen += (k.Len() + 3) / 4 * 4
		} else {
			keyLen += k.Len()
		}
	}
	if !ks.IsMap && int(ks.KeyType.Bytes) != keyLen {
		return false
	}
	for _, e := range elems {
		if len(e.Key) != keyLen || s.Counter && e.Counter == nil && !e.IntervalEnd {
			return false
		}
	}
	return true
}

// elementID identifies an element by key, key end, interval-end flag and verdict.
func elementID(e nftables.SetElement) string {
	id := fmt.Sprintf("%x|%x|%v|", e.Key, e.KeyEnd, e.IntervalEnd) // not the timeout: a live element stays
	switch {
	case e.VerdictData != nil:
		id += fmt.Sprintf("%d|%s", uint32(e.VerdictData.Kind), e.VerdictData.Chain)
	case len(e.Val) > 0: // a verdict as the kernel lists it
		if ad, err := netlink.NewAttributeDecoder(e.Val); err == nil {
			ad.ByteOrder = binary.BigEndian // the kernel's verdict code is big-endian
			var code uint32
			var chain string
			for ad.Next() {
				switch ad.Type() {
				case unix.NFTA_VERDICT_CODE:
					code = ad.Uint32()
				case unix.NFTA_VERDICT_CHAIN:
					chain = ad.String()
				}
			}
			id += fmt.Sprintf("%d|%s", code, chain)
		}
	}
	return id
}

// nfElementDiff returns what to add to and delete from have to get want.
func nfElementDiff(have, want []nftables.SetElement) (add, del []nftables.SetElement) {
	h := make(map[string]bool, len(have))
	for _, e := range have {
		h[elementID(e)] = true
	}
	w := make(map[string]bool, len(want))
	for _, e := range want {
		id := elementID(e)
		w[id] = true
		if !h[id] {
			add = append(add, e)
		}
	}
	for _, e := range have {
		if !w[elementID(e)] {
			e.Val = nil // delete by key
			del = append(del, e)
		}
	}
	return add, del
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// sameHook says whether a kernel chain can stay as the wanted chain.
func sameHook(k, want *nftables.Chain) bool {
	if (k.Hooknum == nil) != (want.Hooknum == nil) {
		return false
	}
	if k.Hooknum == nil {
		return true
	}
	return *k.Hooknum == *want.Hooknum && k.Priority != nil && *k.Priority == *want.Priority && k.Type == want.Type
}

// diff adds the messages that turn old into b.t. It returns false when the
// change needs a full replace (a set's type or a base chain's hook changed).
func (b *batch) diff(old *Table) bool {
	oldSets := map[string]*Set{}
	for _, s := range old.Sets {
		oldSets[s.Name] = s
	}
	oldChains := map[string]*Chain{}
	for _, c := range old.Chains {
		oldChains[c.Name] = c
	}
	for _, s := range b.t.Sets {
		if o, ok := oldSets[s.Name]; ok && (o.Map != s.Map || o.Interval != s.Interval || o.Counter != s.Counter || !reflect.DeepEqual(o.Key, s.Key)) {
			return false
		}
	}
	for _, c := range b.t.Chains {
		if o, ok := oldChains[c.Name]; ok && !reflect.DeepEqual(o.Hook, c.Hook) {
			return false
		}
	}
	// 1. new objects: counters, chains, sets
	oldCounters := toSet(old.Counters)
	newCounters := toSet(b.t.Counters)
	for _, c := range b.t.Counters {
		if !oldCounters[c] {
			b.addCounter(c)
		}
	}
	for _, c := range b.t.Chains {
		if _, ok := oldChains[c.Name]; !ok {
			b.conn.AddChain(b.chains[c.Name])
			b.messages++
		}
	}
	for _, s := range b.t.Sets {
		if _, ok := oldSets[s.Name]; !ok {
			b.addSet(s)
		}
	}
	// 2. rules of new and changed chains
	for _, c := range b.t.Chains {
		o, ok := oldChains[c.Name]
		if ok && rulesEqual(o.Rules, c.Rules) {
			continue
		}
		if ok {
			b.conn.FlushChain(b.chains[c.Name])
			b.messages++
		}
		b.addRules(c)
	}
	// 3. set elements
	for _, s := range b.t.Sets {
		o := oldSets[s.Name]
		if o == nil {
			b.addElements(s, s.Elements)
			continue
		}
		if s.Timeout {
			continue // filled at run time; see Set.Timeout
		}
		add, del := elementDiff(o.Elements, s.Elements)
		b.delElements(s, del)
		b.addElements(s, add)
	}
	// 4. what is gone: sets, chains, counters (in the order references allow)
	newSets := map[string]bool{}
	for _, s := range b.t.Sets {
		newSets[s.Name] = true
	}
	for _, s := range old.Sets {
		if !newSets[s.Name] {
			b.conn.DelSet(&nftables.Set{Table: b.table, Name: s.Name})
			b.messages++
		}
	}
	for _, c := range old.Chains {
		if _, ok := b.chains[c.Name]; !ok {
			ch := &nftables.Chain{Table: b.table, Name: c.Name}
			b.conn.FlushChain(ch)
			b.conn.DelChain(ch)
			b.messages += 2
		}
	}
	for _, c := range old.Counters {
		if !newCounters[c] {
			b.conn.DeleteObject(&nftables.NamedObj{Table: b.table, Name: c, Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})
			b.messages++
		}
	}
	return true
}

func toSet(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

func rulesEqual(a, b []Rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// elementDiff returns the elements to add and to delete to turn old into
// cur. Both are sorted by key (Table.Sort), so one merge walk finds them
// without building an index: a one-policy change with 30,000 elements
// present costs a comparison per element.
func elementDiff(old, cur []Element) (add, del []Element) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		var c int
		switch {
		case i == len(old):
			c = 1
		case j == len(cur):
			c = -1
		default:
			c = compareKeys(old[i].Key, cur[j].Key)
		}
		switch {
		case c < 0:
			del = append(del, old[i])
			i++
		case c > 0:
			add = append(add, cur[j])
			j++
		default:
			if verdictString(old[i].Verdict) != verdictString(cur[j].Verdict) {
				del = append(del, old[i])
				add = append(add, cur[j])
			}
			i++
			j++
		}
	}
	return add, del
}

func verdictString(v *Verdict) string {
	if v == nil {
		return ""
	}
	return v.String()
}

func (b *batch) addCounter(name string) {
	b.conn.AddObj(&nftables.NamedObj{Table: b.table, Name: name, Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})
	b.messages++
}

func (b *batch) nfChain(c *Chain) *nftables.Chain {
	ch := &nftables.Chain{Table: b.table, Name: c.Name}
	if h := c.Hook; h != nil {
		ch.Type = nftables.ChainType(h.Type)
		ch.Hooknum = hookNum(h.Hook)
		ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(h.Priority))
		p := nftables.ChainPolicyAccept
		if h.Policy == "drop" {
			p = nftables.ChainPolicyDrop
		}
		ch.Policy = &p
	}
	return ch
}

func hookNum(h string) *nftables.ChainHook {
	switch h {
	case "prerouting":
		return nftables.ChainHookPrerouting
	case "input":
		return nftables.ChainHookInput
	case "output":
		return nftables.ChainHookOutput
	case "postrouting":
		return nftables.ChainHookPostrouting
	default:
		return nftables.ChainHookForward
	}
}

func (b *batch) addRules(c *Chain) {
	for _, r := range c.Rules {
		var exprs []expr.Any
		for _, s := range r.Stmts {
			exprs = append(exprs, s.exprs(b.resolve)...)
		}
		b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: b.chains[c.Name], Exprs: exprs, UserData: ruleComment(r.Comment)})
		b.messages++
	}
}

// ruleComment encodes a rule comment the way nft stores it (NFTNL_UDATA_RULE_COMMENT).
func ruleComment(c string) []byte {
	if c == "" {
		return nil
	}
	v := append([]byte(c), 0)
	return append([]byte{0, byte(len(v))}, v...)
}

var nfKeyTypes = map[KeyType]nftables.SetDatatype{IPv4Addr: nftables.TypeIPAddr, IPv6Addr: nftables.TypeIP6Addr,
	InetProto: nftables.TypeInetProto, InetService: nftables.TypeInetService}

func (b *batch) nfSet(s *Set) *nftables.Set {
	ns := &nftables.Set{Table: b.table, Name: s.Name, Interval: s.Interval, IsMap: s.Map, HasTimeout: s.Timeout, Counter: s.Counter, Comment: s.Comment}
	if len(s.Key) == 1 {
		ns.KeyType = nfKeyTypes[s.Key[0]]
	} else {
		types := make([]nftables.SetDatatype, len(s.Key))
		for i, k := range s.Key {
			types[i] = nfKeyTypes[k]
		}
		ns.KeyType = nftables.MustConcatSetType(types...)
		ns.Concatenation = true
	}
	if s.Map {
		ns.DataType = nftables.TypeVerdict
	}
	return ns
}

func (b *batch) addSet(s *Set) {
	if err := b.conn.AddSet(b.sets[s.Name], nil); err != nil {
		b.err = errors.Join(b.err, fmt.Errorf("set %s: %w", s.Name, err))
	}
	b.messages++
}

func (b *batch) addElements(s *Set, elems []Element) {
	b.elements(s, elems, b.conn.SetAddElements)
}

func (b *batch) delElements(s *Set, elems []Element) {
	b.elements(s, elems, b.conn.SetDeleteElements)
}

func (b *batch) elements(s *Set, elems []Element, op func(*nftables.Set, []nftables.SetElement) error) {
	b.rawElements(s, nfElements(s, elems), op)
}

func (b *batch) rawElements(s *Set, nfe []nftables.SetElement, op func(*nftables.Set, []nftables.SetElement) error) {
	for _, c := range chunks(nfe, elementBytes) {
		if err := op(b.sets[s.Name], c); err != nil {
			b.err = errors.Join(b.err, fmt.Errorf("set %s elements: %w", s.Name, err))
		}
		b.messages++
	}
}

// nfElements encodes elements. A concatenated interval set (the kernel's
// pipapo) takes each element as key and key end, every field padded to 32
// bits; a single-field interval set (rbtree) takes a start element and an
// interval-end element one past the range's end.
func nfElements(s *Set, elems []Element) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, len(elems))
	for _, e := range elems {
		var v *expr.Verdict
		if e.Verdict != nil {
			v = e.Verdict.expr()
		}
		switch {
		case len(s.Key) > 1:
			var key, end []byte
			for _, r := range e.Key {
				key = append(key, pad4(r.Lo)...)
				end = append(end, pad4(r.Hi)...)
			}
			se := nftables.SetElement{Key: key, VerdictData: v, Timeout: e.Timeout}
			if s.Interval {
				se.KeyEnd = end
			}
			out = append(out, se)
		case s.Interval:
			r := e.Key[0]
			out = append(out, nftables.SetElement{Key: r.Lo, VerdictData: v, Timeout: e.Timeout})
			if next, ok := increment(r.Hi); ok {
				out = append(out, nftables.SetElement{Key: next, IntervalEnd: true})
			}
		default:
			out = append(out, nftables.SetElement{Key: e.Key[0].Lo, VerdictData: v, Timeout: e.Timeout})
		}
	}
	return out
}

func pad4(b []byte) []byte {
	if len(b)%4 == 0 {
		return b
	}
	return append(append([]byte(nil), b...), make([]byte, 4-len(b)%4)...)
}

// increment returns v+1, false on overflow.
func increment(v []byte) ([]byte, bool) {
	out := append([]byte(nil), v...)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			return out, true
		}
	}
	return nil, false
}

// AddTimeoutElements adds addresses to a timeout set of table, each expiring
// after timeout (an address already there gets the new timeout). It is how
// the DNS proxy fills FQDN sets between applies.
func (a *Applier) AddTimeoutElements(table, set string, ips []netip.Addr, timeout time.Duration) error {
	if len(ips) == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	kt := nftables.TypeIPAddr
	if ips[0].Is6() {
		kt = nftables.TypeIP6Addr
	}
	s := &nftables.Set{Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: table}, Name: set, KeyType: kt, HasTimeout: true}
	elems := make([]nftables.SetElement, 0, len(ips))
	for _, ip := range ips {
		elems = append(elems, nftables.SetElement{Key: ip.AsSlice(), Timeout: timeout})
	}
	if err := a.conn.SetAddElements(s, elems); err != nil {
		return err
	}
	if err := a.conn.Flush(); err != nil {
		return fmt.Errorf("add to set %s: %w", set, err)
	}
	return nil
}

// CounterValue is a named counter's reading.
type CounterValue struct{ Packets, Bytes uint64 }

// Counters reads the named counters of table name and, for the table last
// applied, the count of every element owner (Element.Owner): the sum of the
// counters of the elements it owns in sets with Counter.
func (a *Applier) Counters(name string) (map[string]CounterValue, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out, err := a.counters(name)
	if err != nil || a.current == nil || a.current.Name != name {
		return out, err
	}
	b := newBatch(a.conn, a.current)
	for _, s := range a.current.Sets {
		if !s.Counter {
			continue
		}
		owners := make(map[string]string, len(s.Elements))
		for _, e := range s.Elements {
			if e.Owner != "" {
				owners[kernelKey(nfElements(s, []Element{e})[0])] = e.Owner
			}
		}
		elems, err := a.conn.GetSetElements(b.sets[s.Name])
		if err != nil {
			return nil, fmt.Errorf("read element counters of set %s: %w", s.Name, err)
		}
		for _, e := range elems {
			owner, ok := owners[kernelKey(e)]
			if !ok || e.Counter == nil {
				continue
			}
			v := out[owner]
			v.Packets += e.Counter.Packets
			v.Bytes += e.Counter.Bytes
			out[owner] = v
		}
	}
	return out, nil
}

// kernelKey identifies an element by its key and key end as the kernel has them.
func kernelKey(e nftables.SetElement) string { return string(e.Key) + "|" + string(e.KeyEnd) }

// counters reads counters; a.mu is held (the netlink socket is shared, and
// replies of concurrent requests would interleave).
func (a *Applier) counters(name string) (map[string]CounterValue, error) {
	objs, err := a.conn.GetNamedObjects(&nftables.Table{Family: nftables.TableFamilyINet, Name: name})
	if err != nil {
		return nil, fmt.Errorf("read counters of table %s: %w", name, err)
	}
	out := map[string]CounterValue{}
	for _, o := range objs {
		if n, ok := o.(*nftables.NamedObj); ok {
			if c, ok := n.Obj.(*expr.Counter); ok {
				out[n.Name] = CounterValue{Packets: c.Packets, Bytes: c.Bytes}
			}
		}
	}
	return out, nil
}

// Drift compares the kernel's table with the last applied one: the table,
// its chains, counters, the number of elements of each set, and chains' rules
// by their expression types, verdicts, set and counter references (all base
// and dispatch chains, and up to driftChains single-rule chains per call). It
// returns a description of the first difference, or "" when there is none
// (or nothing was applied yet).
func (a *Applier) Drift() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.current
	if cur == nil {
		return "", nil
	}
	nt := &nftables.Table{Family: nftables.TableFamilyINet, Name: cur.Name}
	if _, err := a.conn.ListTableOfFamily(cur.Name, nftables.TableFamilyINet); err != nil {
		return fmt.Sprintf("table %s missing: %v", cur.Name, err), nil
	}
	chains, err := a.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return "", fmt.Errorf("list chains: %w", err)
	}
	var have []string
	for _, c := range chains {
		if c.Table.Name == cur.Name {
			have = append(have, c.Name)
		}
	}
	var want []string
	for _, c := range cur.Chains {
		want = append(want, c.Name)
	}
	if d := sliceDiff("chains", want, have); d != "" {
		return d, nil
	}
	counters, err := a.counters(cur.Name)
	if err != nil {
		return "", err
	}
	have = have[:0]
	for n := range counters {
		have = append(have, n)
	}
	if d := sliceDiff("counters", cur.Counters, have); d != "" {
		return d, nil
	}
	b := newBatch(a.conn, cur)
	for _, s := range cur.Sets {
		elems, err := a.conn.GetSetElements(b.sets[s.Name])
		if err != nil {
			return fmt.Sprintf("set %s unreadable: %v", s.Name, err), nil
		}
		if w := len(nfElements(s, s.Elements)); !s.Timeout && len(elems) != w {
			return fmt.Sprintf("set %s has %d elements, want %d", s.Name, len(elems), w), nil
		}
	}
	var check []*Chain
	var ruleChains []*Chain
	for _, c := range cur.Chains {
		if c.Hook != nil || len(c.Rules) != 1 {
			check = append(check, c)
		} else {
			ruleChains = append(ruleChains, c)
		}
	}
	if n := len(ruleChains); n <= driftChains {
		check = append(check, ruleChains...)
	} else {
		start := a.cursor % n
		a.cursor = start + driftChains
		for i := 0; i < driftChains; i++ {
			check = append(check, ruleChains[(start+i)%n])
		}
	}
	for _, c := range check {
		rules, err := a.conn.GetRules(nt, b.chains[c.Name])
		if err != nil {
			return fmt.Sprintf("chain %s unreadable: %v", c.Name, err), nil
		}
		if len(rules) != len(c.Rules) {
			return fmt.Sprintf("chain %s has %d rules, want %d", c.Name, len(rules), len(c.Rules)), nil
		}
		for i, r := range c.Rules {
			var exprs []expr.Any
			for _, s := range r.Stmts {
				exprs = append(exprs, s.exprs(b.resolve)...)
			}
			if fingerprint(exprs) != fingerprint(rules[i].Exprs) {
				return fmt.Sprintf("chain %s rule %d differs: want %q", c.Name, i, r.String()), nil
			}
		}
	}
	return "", nil
}

func sliceDiff(what string, want, have []string) string {
	w, h := append([]string(nil), want...), append([]string(nil), have...)
	sort.Strings(w)
	sort.Strings(h)
	if !reflect.DeepEqual(w, h) {
		return fmt.Sprintf("%s differ: want %v, have %v", what, abbrev(w), abbrev(h))
	}
	return ""
}

func abbrev(s []string) []string {
	if len(s) > 8 {
		return append(s[:8:8], fmt.Sprintf("... (%d)", len(s)))
	}
	return s
}

// fingerprint describes a rule's expressions by type and by the parts that
// decide what it does: verdicts, set and object references, compared data.
func fingerprint(exprs []expr.Any) string {
	var out string
	for _, e := range exprs {
		out += fmt.Sprintf("%T", e)
		switch e := e.(type) {
		case *expr.Verdict:
			out += fmt.Sprintf("(%d,%s)", e.Kind, e.Chain)
		case *expr.Lookup:
			out += fmt.Sprintf("(%s,%v)", e.SetName, e.Invert)
		case *expr.Objref:
			out += "(" + e.Name + ")"
		case *expr.Cmp:
			out += fmt.Sprintf("(%d,%x)", e.Op, e.Data)
		}
		out += ";"
	}
	return out
}
