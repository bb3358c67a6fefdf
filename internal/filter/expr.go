package filter

import (
	"strconv"
	"strings"
	"time"
)

type exprKind uint8

const (
	exprCmp exprKind = iota
	exprAnd
	exprOr
	exprNot
)

// Expr is a parsed, checked filter. The nil *Expr is the empty filter, which
// matches every operation.
type Expr struct {
	kind exprKind
	subs []*Expr    // exprAnd, exprOr: two or more operands, none of the same kind; exprNot: one
	cmp  comparison // exprCmp
}

// junction returns the AND or OR (kind) of subs, flattening nested operands of
// the same kind so that the tree, and with it String, is canonical.
func junction(kind exprKind, subs []*Expr) *Expr {
	if len(subs) == 1 {
		return subs[0]
	}
	flat := make([]*Expr, 0, len(subs))
	for _, s := range subs {
		if s.kind == kind {
			flat = append(flat, s.subs...)
		} else {
			flat = append(flat, s)
		}
	}
	return &Expr{kind: kind, subs: flat}
}

// String returns e in a canonical form that Parse accepts and that parses to
// the same Expr: fields by their canonical names, AND and OR with explicit
// grouping wherever an operand is itself a junction, sequences as AND, "-" as
// NOT, string values double-quoted, error codes as numbers and timestamps in
// UTC. The nil Expr is "".
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	switch e.kind {
	case exprCmp:
		e.cmp.write(b)
	case exprNot:
		b.WriteString("NOT ")
		e.subs[0].writeOperand(b, exprCmp)
	case exprAnd, exprOr:
		sep := " AND "
		if e.kind == exprOr {
			sep = " OR "
		}
		for i, s := range e.subs {
			if i > 0 {
				b.WriteString(sep)
			}
			s.writeOperand(b, exprCmp, exprNot)
		}
	}
}

// writeOperand writes e, in parentheses unless its kind is one of bare.
func (e *Expr) writeOperand(b *strings.Builder, bare ...exprKind) {
	for _, k := range bare {
		if e.kind == k {
			e.write(b)
			return
		}
	}
	b.WriteByte('(')
	e.write(b)
	b.WriteByte(')')
}

func (c *comparison) write(b *strings.Builder) {
	if pc := c.path; pc != nil {
		b.WriteString(pc.root + "." + pc.path)
		if pc.opTok.kind == tokHas && pc.arg.isStar() {
			b.WriteString(":*")
			return
		}
		b.WriteString(" " + pc.opTok.text + " ")
		b.WriteByte('"')
		at := 0
		for _, s := range pc.arg.stars {
			writeEscaped(b, pc.arg.text[at:s])
			b.WriteByte('*')
			at = s + 1
		}
		writeEscaped(b, pc.arg.text[at:])
		b.WriteByte('"')
		return
	}
	b.WriteString(c.field.name)
	if c.op == opPresent {
		b.WriteString(":*")
		return
	}
	b.WriteByte(' ')
	b.WriteString(opText[c.op])
	b.WriteByte(' ')
	switch c.field.typ {
	case typeString:
		b.WriteByte('"')
		if c.prefix {
			b.WriteByte('*')
		}
		writeEscaped(b, c.str)
		if c.suffix {
			b.WriteByte('*')
		}
		b.WriteByte('"')
	case typeInt:
		b.WriteString(strconv.FormatInt(c.num, 10))
	case typeBool:
		b.WriteString(strconv.FormatBool(c.b))
	case typeState:
		b.WriteString(stateNames[c.num])
	case typeTime:
		b.WriteByte('"')
		b.WriteString(c.t.Format(time.RFC3339Nano))
		b.WriteByte('"')
	}
}

// writeEscaped writes s as the inside of a double-quoted string, escaping
// every * so that none reads as a wildcard.
func writeEscaped(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '\\', '"', '*':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
}
