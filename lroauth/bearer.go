package lroauth

import (
	"strings"
)

// MaxAuthorizationBytes bounds the authorization header that ParseBearer
// accepts, so that a huge header is refused before any work is spent on it.
// A JWT with a long list of grants stays well under it.
const MaxAuthorizationBytes = 16 << 10

// ParseBearer returns the token of an RFC 6750 authorization header,
// "Bearer TOKEN": the scheme in any case, one space or more, then a token68
// (letters, digits and -._~+/, then any '=' padding). Its errors, made with
// Unauthenticated, never echo the header:
//
//   - CREDENTIALS_MISSING: the header is empty;
//   - UNSUPPORTED_SCHEME: the header names another scheme, such as Basic;
//   - MALFORMED_TOKEN: the token is empty, has a character outside token68,
//     or the header is longer than MaxAuthorizationBytes.
func ParseBearer(header string) (token string, err error) {
	if header == "" {
		return "", Unauthenticated("CREDENTIALS_MISSING", "the call carries no credentials: send an authorization header \"Bearer TOKEN\"")
	}
	if len(header) > MaxAuthorizationBytes {
		return "", Unauthenticated("MALFORMED_TOKEN", "the authorization header is longer than 16 KiB")
	}
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", Unauthenticated("UNSUPPORTED_SCHEME", "the authorization header must use the Bearer scheme: \"Bearer TOKEN\"")
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" {
		return "", Unauthenticated("MALFORMED_TOKEN", "the authorization header has no token after Bearer")
	}
	if !isToken68(token) {
		return "", Unauthenticated("MALFORMED_TOKEN", "the bearer token has a character outside the token68 set (letters, digits, -._~+/ and = padding at the end)")
	}
	return token, nil
}

// isToken68 reports whether s is a token68 (RFC 7235): 1*( ALPHA / DIGIT /
// "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	end := len(strings.TrimRight(s, "="))
	if end == 0 {
		return false
	}
	for i := range end {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
