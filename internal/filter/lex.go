package filter

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokText
	tokString
	tokAnd
	tokOr
	tokNot
	tokMinus
	tokLParen
	tokRParen
	tokComma
	tokDot
	// The comparators come last, so that isComparator is a single test.
	tokHas
	tokEq
	tokNe
	tokLt
	tokLe
	tokGt
	tokGe
)

// token is one lexical element of a filter.
type token struct {
	kind  tokenKind
	pos   int    // 1-based rune column of the token's first character
	space bool   // white space precedes the token
	text  string // tokText, keywords: the word; tokString: the unescaped contents; otherwise the operator
	stars []int  // tokText, tokString: byte offsets in text of the * characters that were not escaped
}

func (t token) isComparator() bool { return t.kind >= tokHas }

// isWord reports whether t can be a name after a dot in a member path.
func (t token) isWord() bool {
	switch t.kind {
	case tokText, tokString, tokAnd, tokOr, tokNot:
		return true
	}
	return false
}

// startsSimple reports whether t can begin a restriction or a composite.
func (t token) startsSimple() bool {
	return t.kind == tokText || t.kind == tokString || t.kind == tokLParen
}

// startsTerm reports whether t can begin a term.
func (t token) startsTerm() bool {
	return t.startsSimple() || t.kind == tokNot || t.kind == tokMinus
}

// describe names t for an error message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of filter"
	case tokText:
		return strconv.Quote(t.text)
	case tokString:
		return "string " + strconv.Quote(t.text)
	case tokAnd, tokOr, tokNot:
		return t.text
	}
	return "'" + t.text + "'"
}

// isSpecial reports whether r ends a TEXT word.
func isSpecial(r rune) bool {
	switch r {
	case '(', ')', ',', '.', ':', '=', '<', '>', '!', '"', '\'', '\\':
		return true
	}
	return unicode.IsSpace(r)
}

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// lex splits filter into tokens, ending with a tokEOF whose pos is one past the
// last rune.
func lex(filter string) ([]token, *Error) {
	l := lexer{s: filter, col: 1}
	var toks []token
	space := false
	for {
		r, n, err := l.peek()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return append(toks, token{kind: tokEOF, pos: l.col, space: space}), nil
		}
		if unicode.IsSpace(r) {
			l.advance(n)
			space = true
			continue
		}
		t, err := l.token(r, n)
		if err != nil {
			return nil, err
		}
		t.space = space
		space = false
		toks = append(toks, t)
	}
}

type lexer struct {
	s   string
	i   int // byte offset of the next rune
	col int // 1-based rune column of the next rune
}

// peek returns the next rune and its size, 0 at the end of the input. It
// rejects invalid UTF-8 and NUL, which no database column can hold.
func (l *lexer) peek() (rune, int, *Error) {
	if l.i >= len(l.s) {
		return 0, 0, nil
	}
	r, n := utf8.DecodeRuneInString(l.s[l.i:])
	switch {
	case r == utf8.RuneError && n == 1:
		return 0, 0, errorf(l.col, "the filter is not valid UTF-8")
	case r == 0:
		return 0, 0, errorf(l.col, "the filter contains a NUL character")
	}
	return r, n, nil
}

func (l *lexer) advance(n int) {
	l.i += n
	l.col++
}

// token reads the token that begins with r, of n bytes.
func (l *lexer) token(r rune, n int) (token, *Error) {
	t := token{pos: l.col}
	start := l.i
	l.advance(n)
	operator := func(kind tokenKind) (token, *Error) {
		t.kind, t.text = kind, l.s[start:l.i]
		return t, nil
	}
	switch r {
	case '(':
		return operator(tokLParen)
	case ')':
		return operator(tokRParen)
	case ',':
		return operator(tokComma)
	case '.':
		return operator(tokDot)
	case ':':
		return operator(tokHas)
	case '=':
		return operator(tokEq)
	case '<', '>':
		kind := tokLt
		if r == '>' {
			kind = tokGt
		}
		if l.i < len(l.s) && l.s[l.i] == '=' {
			l.advance(1)
			kind++ // tokLe, tokGe
		}
		return operator(kind)
	case '!':
		if l.i < len(l.s) && l.s[l.i] == '=' {
			l.advance(1)
			return operator(tokNe)
		}
		return t, errorf(t.pos, "'!' must be followed by '=': the not-equal comparator is != (negation is NOT or -)")
	case '"', '\'':
		return l.quoted(t, r)
	case '\\':
		return t, errorf(t.pos, `a backslash escape is allowed only inside a quoted string`)
	case '-':
		if l.i >= len(l.s) || l.s[l.i] < '0' || l.s[l.i] > '9' {
			return operator(tokMinus)
		}
	}
	// A TEXT word, which may be a keyword.
	var stars []int
	if r == '*' {
		stars = append(stars, 0)
	}
	for {
		r, n, err := l.peek()
		if err != nil {
			return t, err
		}
		if n == 0 || isSpecial(r) {
			break
		}
		if r == '*' {
			stars = append(stars, l.i-start)
		}
		l.advance(n)
	}
	t.text, t.stars = l.s[start:l.i], stars
	switch t.text {
	case "AND":
		t.kind = tokAnd
	case "OR":
		t.kind = tokOr
	case "NOT":
		t.kind = tokNot
	default:
		t.kind = tokText
	}
	return t, nil
}

// quoted reads the rest of a string literal opened by quote, unescaping it.
func (l *lexer) quoted(t token, quote rune) (token, *Error) {
	var b strings.Builder
	var stars []int
	for {
		r, n, err := l.peek()
		if err != nil {
			return t, err
		}
		if n == 0 {
			return t, errorf(t.pos, "unterminated string: the %c at column %d is never closed", quote, t.pos)
		}
		col := l.col
		l.advance(n)
		switch r {
		case quote:
			t.kind, t.text, t.stars = tokString, b.String(), stars
			return t, nil
		case '*':
			stars = append(stars, b.Len())
			b.WriteRune(r)
			continue
		case '\\':
		default:
			b.WriteRune(r)
			continue
		}
		r, n, err = l.peek()
		if err != nil {
			return t, err
		}
		if n == 0 {
			return t, errorf(t.pos, "unterminated string: the %c at column %d is never closed", quote, t.pos)
		}
		l.advance(n)
		switch r {
		case '\\', '"', '\'', '*':
			b.WriteRune(r)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default:
			return t, errorf(col, `unknown escape sequence \%c in a string (known: \\ \" \' \* \n \r \t)`, r)
		}
	}
}
