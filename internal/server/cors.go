package server

import (
	"net/http"

	"github.com/rs/cors"
)

// corsHeaders are the request headers that browsers may send cross-origin
// besides the safelisted ones: credentials, JSON, and the headers that
// Google's REST client libraries add.
var corsHeaders = []string{
	"Authorization", "Content-Type",
	"X-Goog-Api-Client", "X-Goog-Request-Params", "X-Goog-User-Project", "X-Goog-Api-Version", "X-Goog-Request-Reason",
}

// corsExposed are the response headers that scripts of other origins may
// read: GetOperation's (lrogrpc.StateHeader and the others) and the
// Retry-After of a call refused for the rate limit.
var corsExposed = []string{
	"Lro-State", "Lro-Attempt", "Lro-Lease-Expire-Time", "Lro-Not-Before", "Lro-Deadline", "Lro-Last-Error-Bin",
	"Retry-After",
}

// withCORS lets browsers on origins ("*": any) call the HTTP API: it
// answers their preflights (OPTIONS with Access-Control-Request-Method)
// itself, before lrohttp, which answers any other OPTIONS with Allow, and
// adds Access-Control-* headers to the responses of those origins. With
// no origins it returns next: no response gets Access-Control-* headers.
// Credentials go in the Authorization header, so that cookies are not
// needed and not allowed.
func withCORS(next http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete},
		AllowedHeaders: corsHeaders,
		ExposedHeaders: corsExposed,
		MaxAge:         600,
	}).Handler(next)
}
