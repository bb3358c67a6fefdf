package filter

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on hostile input.
const (
	// MaxLength is the longest filter, in bytes, that Parse accepts.
	MaxLength = 4096
	// MaxDepth is how deeply Parse lets parentheses nest.
	MaxDepth = 64
)

// Error is a filter that does not parse or does not type-check.
type Error struct {
	Pos int    // 1-based character (rune) column in the filter where the problem is
	Msg string // what is wrong, e.g. `unknown field "foo"; known fields: name, kind, ...`
}

func (e *Error) Error() string {
	return fmt.Sprintf("filter: column %d: %s", e.Pos, e.Msg)
}

// limits bounds the input Parse accepts.
type limits struct {
	length int // bytes
	depth  int // nesting of parentheses
}

// Parse parses and type-checks an AIP-160 filter over operation fields. An
// empty or all-whitespace filter returns (nil, nil), which matches everything.
// Any other failure is an *Error.
func Parse(filter string) (*Expr, error) {
	return ParseSchema(filter, nil)
}

// ParseSchema is Parse, and accepts the fields metadata.<path> and
// response.<path> of the message types of s's kinds (see the package
// documentation). A nil s accepts none.
func ParseSchema(filter string, s *Schema) (*Expr, error) {
	e, err := parse(filter, limits{length: MaxLength, depth: MaxDepth})
	if err != nil {
		return nil, err
	}
	if e != nil && s != nil {
		if err := resolve(e, s); err != nil {
			return nil, err
		}
	} else if e != nil {
		if err := noPaths(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// noPaths rejects path comparisons when there is no schema.
func noPaths(e *Expr) *Error {
	if e.kind == exprCmp {
		if pc := e.cmp.path; pc != nil {
			return errorf(pc.pos, "unknown field %s; known fields: %s", strconv.Quote(pc.root+"."+pc.path), knownFields)
		}
		return nil
	}
	for _, s := range e.subs {
		if err := noPaths(s); err != nil {
			return err
		}
	}
	return nil
}

func parse(filter string, lim limits) (*Expr, *Error) {
	if len(filter) > lim.length {
		end := lim.length
		for end > 0 && !utf8.RuneStart(filter[end]) {
			end-- // to the start of the rune that crosses the limit
		}
		col := utf8.RuneCountInString(filter[:end]) + 1
		return nil, errorf(col, "the filter is %d bytes long; at most %d are allowed", len(filter), lim.length)
	}
	toks, err := lex(filter)
	if err != nil {
		return nil, err
	}
	p := parser{toks: toks, lim: lim}
	if p.peek().kind == tokEOF {
		return nil, nil
	}
	e, err := p.expression()
	if err != nil {
		return nil, err
	}
	switch t := p.peek(); t.kind {
	case tokEOF:
		return e, nil
	case tokRParen:
		return nil, errorf(t.pos, "unbalanced parentheses: this ) closes nothing")
	default:
		return nil, errorf(t.pos, "unexpected %s", t.describe())
	}
}

// parser is a recursive-descent parser over the tokens of one filter. Each
// method parses the production it is named after, type-checking restrictions
// as it goes, and reports the first error.
type parser struct {
	toks  []token
	i     int
	depth int
	lim   limits
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

// expression = sequence { "AND" sequence }
func (p *parser) expression() (*Expr, *Error) {
	s, err := p.sequence()
	if err != nil {
		return nil, err
	}
	subs := []*Expr{s}
	for p.peek().kind == tokAnd {
		if err := p.operand(p.next()); err != nil {
			return nil, err
		}
		s, err := p.sequence()
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	return junction(exprAnd, subs), nil
}

// sequence = factor { factor }
func (p *parser) sequence() (*Expr, *Error) {
	var subs []*Expr
	for {
		f, err := p.factor()
		if err != nil {
			return nil, err
		}
		subs = append(subs, f)
		if !p.peek().startsTerm() {
			return junction(exprAnd, subs), nil
		}
	}
}

// factor = term { "OR" term }
func (p *parser) factor() (*Expr, *Error) {
	t, err := p.term()
	if err != nil {
		return nil, err
	}
	subs := []*Expr{t}
	for p.peek().kind == tokOr {
		if err := p.operand(p.next()); err != nil {
			return nil, err
		}
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		subs = append(subs, t)
	}
	return junction(exprOr, subs), nil
}

// operand checks that a term follows the operator AND or OR.
func (p *parser) operand(operator token) *Error {
	if t := p.peek(); !t.startsTerm() {
		return errorf(t.pos, "%s must be followed by a restriction, not %s", operator.text, t.describe())
	}
	return nil
}

// term = [ "NOT" | "-" ] simple
func (p *parser) term() (*Expr, *Error) {
	if k := p.peek().kind; k != tokNot && k != tokMinus {
		return p.simple()
	}
	not := p.next()
	if t := p.peek(); !t.startsSimple() {
		return nil, errorf(t.pos, "%s must be followed by a restriction or a parenthesised expression, not %s",
			not.text, t.describe())
	}
	s, err := p.simple()
	if err != nil {
		return nil, err
	}
	return &Expr{kind: exprNot, subs: []*Expr{s}}, nil
}

// simple = restriction | composite
func (p *parser) simple() (*Expr, *Error) {
	switch t := p.peek(); t.kind {
	case tokLParen:
		return p.composite()
	case tokText, tokString:
		return p.restriction()
	default:
		return nil, errorf(t.pos, "expected a restriction such as kind = \"value\", found %s", t.describe())
	}
}

// composite = "(" expression ")"
func (p *parser) composite() (*Expr, *Error) {
	open := p.next()
	if p.depth++; p.depth > p.lim.depth {
		return nil, errorf(open.pos, "parentheses nest more than %d deep", p.lim.depth)
	}
	defer func() { p.depth-- }()
	if p.peek().kind == tokRParen {
		return nil, errorf(open.pos, "empty parentheses")
	}
	e, err := p.expression()
	if err != nil {
		return nil, err
	}
	switch t := p.next(); t.kind {
	case tokRParen:
		return e, nil
	case tokEOF:
		return nil, errorf(open.pos, "unbalanced parentheses: this ( is never closed")
	default:
		return nil, errorf(t.pos, "expected ) to close the ( at column %d, found %s", open.pos, t.describe())
	}
}

// restriction = member comparator arg
func (p *parser) restriction() (*Expr, *Error) {
	lhs, err := p.member()
	if err != nil {
		return nil, err
	}
	opTok := p.peek()
	if !opTok.isComparator() {
		return nil, bareLiteral(lhs)
	}
	p.next()
	f := fields[lhs.text]
	if root, path, ok := strings.Cut(lhs.text, "."); f == nil && ok && (root == "metadata" || root == "response") && lhs.stars == nil {
		arg, err := p.arg(opTok)
		if err != nil {
			return nil, err
		}
		return &Expr{kind: exprCmp, cmp: comparison{path: &pathCmp{root: root, path: path, pos: lhs.pos, opTok: opTok, arg: arg}}}, nil
	}
	if f == nil {
		return nil, errorf(lhs.pos, "unknown field %s; known fields: %s", strconv.Quote(lhs.text), knownFields)
	}
	arg, err := p.arg(opTok)
	if err != nil {
		return nil, err
	}
	c, err := check(f, opTok, arg)
	if err != nil {
		return nil, err
	}
	return &Expr{kind: exprCmp, cmp: c}, nil
}

// bareLiteral explains why a restriction without a comparator is rejected.
func bareLiteral(lit literal) *Error {
	if f := fields[lit.text]; f != nil {
		return errorf(lit.pos, "field %s must be compared with something, e.g. %s", lit.text, f.example())
	}
	switch strings.ToUpper(lit.text) {
	case "AND", "OR", "NOT":
		return errorf(lit.pos, "%s is not an operator: AND, OR and NOT must be upper case", strconv.Quote(lit.text))
	}
	return errorf(lit.pos, "bare value %s: global search is not supported; compare a field instead, e.g. kind = %s",
		strconv.Quote(lit.text), strconv.Quote(lit.text))
}

// arg = value { "." name }, after the comparator opTok.
func (p *parser) arg(opTok token) (literal, *Error) {
	switch t := p.peek(); t.kind {
	case tokText, tokString:
		return p.member()
	case tokLParen:
		return literal{}, errorf(t.pos, "a parenthesised value is not supported; write one comparison per value, e.g. kind = \"a\" OR kind = \"b\"")
	case tokAnd, tokOr, tokNot:
		return literal{}, errorf(t.pos, "expected a value after %s, found the keyword %s (quote it to compare with the word: \"%s\")",
			opTok.text, t.text, t.text)
	default:
		return literal{}, errorf(t.pos, "expected a value after %s, found %s", opTok.text, t.describe())
	}
}

// member = value { "." name }, with no space around the dots. The words are
// joined with dots; a word directly followed by "(" is a function call, which
// is not supported.
func (p *parser) member() (literal, *Error) {
	t := p.next()
	lit := literal{text: t.text, stars: t.stars, pos: t.pos, quoted: t.kind == tokString}
	for p.peek().kind == tokDot && !p.peek().space {
		dot := p.next()
		w := p.peek()
		switch {
		case w.space:
			return lit, errorf(dot.pos, "unexpected space after '.'")
		case !w.isWord():
			return lit, errorf(dot.pos, "expected a name after '.', found %s", w.describe())
		}
		p.next()
		for _, s := range w.stars {
			lit.stars = append(lit.stars, len(lit.text)+1+s)
		}
		lit.text += "." + w.text
		lit.quoted = false
	}
	if t := p.peek(); t.kind == tokLParen && !t.space {
		return lit, errorf(lit.pos, "function calls such as %s(...) are not supported", lit.text)
	}
	return lit, nil
}
