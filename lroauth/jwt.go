package lroauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"lro.dev/lro/internal/testsignal"
)

// The defaults of JWTConfig.
const (
	// JWTGrantsClaimDefault is the claim that holds a JWT's grants.
	JWTGrantsClaimDefault = "permissions"
	// JWTPrincipalClaimDefault is the claim that names a JWT's principal.
	JWTPrincipalClaimDefault = "sub"
	// JWTLeewayDefault is the clock skew allowed on exp, nbf and iat.
	JWTLeewayDefault = time.Minute
	// JWTRefreshDefault is how often the key set is fetched again.
	JWTRefreshDefault = 5 * time.Minute
	// JWTUnknownKeyRefreshMin is how long after a fetch of the key set a
	// token signed by a key it does not hold may fetch it again: a key
	// rotated in at the issuer is picked up at once, while tokens that
	// name made-up keys cause at most one fetch per this interval.
	JWTUnknownKeyRefreshMin = 10 * time.Second
)

// jwksFetchTimeout bounds one fetch of a key set over HTTP.
const jwksFetchTimeout = 10 * time.Second

// jwksBytesMax bounds the size of a key set.
const jwksBytesMax = 1 << 20

// jwtAlgorithms are the signature algorithms that a JWT may use: public-key
// ones only. "none" and the HMAC ones (HS256...) are refused, so that a
// public key can never serve as a shared secret.
var jwtAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.PS256, jose.EdDSA,
}

// JWTConfig configures a JWTVerifier.
type JWTConfig struct {
	// JWKS is where the JSON Web Key Set that signs tokens is: a file
	// path, or an http:// or https:// URL (such as an identity provider's
	// jwks_uri). Required.
	JWKS string
	// Issuer is the "iss" that tokens must carry. Required.
	Issuer string
	// Audience must be one of the token's "aud". Required: without it, a
	// token that the issuer minted for any other service would do.
	Audience string
	// GrantsClaim is the claim that holds the principal's grants
	// (ParseGrant), as a JSON array of strings or a space-separated
	// string; JWTGrantsClaimDefault if empty. A token without it has no
	// grants.
	GrantsClaim string
	// PrincipalClaim is the claim, a string, that names the principal;
	// JWTPrincipalClaimDefault if empty.
	PrincipalClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat;
	// JWTLeewayDefault if zero.
	Leeway time.Duration
	// Refresh is how often the key set is fetched again; JWTRefreshDefault
	// if zero. A token signed by a key not in the set also fetches it (at
	// most once per JWTUnknownKeyRefreshMin).
	Refresh time.Duration
	// HTTPClient fetches a JWKS URL; a client with a 10 s timeout if nil.
	HTTPClient *http.Client
	// Logger logs failed refreshes; a text logger on stderr at warn level
	// if nil.
	Logger *slog.Logger
}

// A JWTVerifier is an Authenticator of bearer JWTs, signed by a key of a
// JSON Web Key Set (JWTConfig.JWKS). A token is accepted if:
//
//   - its signature verifies with the key its header's "kid" names (each
//     key of the set in turn if it names none), by one of RS256, RS384,
//     RS512, ES256, ES384, PS256 and EdDSA;
//   - it has an "exp", and "exp", "nbf" and "iat" hold at the current time
//     with JWTConfig.Leeway;
//   - its "iss" is JWTConfig.Issuer and its "aud" holds JWTConfig.Audience;
//   - its principal claim is a non-empty string, and each string of its
//     grants claim is a grant (ParseGrant).
//
// A token whose grants do not all parse is refused (TOKEN_INVALID), not
// accepted with the grants that do: a typo in an identity provider's
// configuration is then loud at once rather than a permission that
// quietly goes missing.
//
// Errors, made with Unauthenticated, name what is wrong without echoing
// the token: TOKEN_INVALID (not a JWT, an algorithm not accepted, a bad
// signature, a missing claim, a bad grant), UNKNOWN_KEY (the key set has
// no key by the token's "kid", even after a fetch), TOKEN_EXPIRED,
// TOKEN_NOT_YET_VALID, WRONG_ISSUER and WRONG_AUDIENCE.
//
// The key set is fetched again every JWTConfig.Refresh, and at once when a
// token names a key it does not hold; a fetch that fails keeps the keys
// fetched before. Close stops the refresh.
type JWTVerifier struct {
	cfg  JWTConfig
	keys atomic.Pointer[jwtKeys]

	fetchMu         sync.Mutex // serializes fetches; guards lastFetch
	lastFetch       time.Time
	unknownKeyRetry time.Duration // JWTUnknownKeyRefreshMin; tests shorten it

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	testSignals jwtSignals
}

// jwtSignals are the moments of a JWTVerifier that tests await.
type jwtSignals struct {
	// refreshed is signalled after each background fetch, with its error.
	refreshed testsignal.Signal[error]
}

// jwtKeys is a key set, public keys only.
type jwtKeys struct {
	byKID map[string][]jose.JSONWebKey
	all   []jose.JSONWebKey
}

// NewJWTVerifier returns a JWTVerifier for cfg, once it has fetched the key
// set; an error if cfg is not valid or the first fetch fails. The key set
// is refreshed in the background until ctx is done or Close is called.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	return newJWTVerifier(ctx, cfg, nil)
}

// newJWTVerifier is NewJWTVerifier; before the refresh starts, it calls
// setup, if not nil, so that tests may turn on signals and shorten waits.
func newJWTVerifier(ctx context.Context, cfg JWTConfig, setup func(*JWTVerifier)) (*JWTVerifier, error) {
	switch {
	case cfg.JWKS == "":
		return nil, errors.New("JWTConfig.JWKS is required: a file or an http(s) URL of the JSON Web Key Set")
	case cfg.Issuer == "":
		return nil, errors.New("JWTConfig.Issuer is required: the iss of the tokens to accept")
	case cfg.Audience == "":
		return nil, errors.New("JWTConfig.Audience is required: an aud that the tokens to accept must hold")
	case cfg.Leeway < 0:
		return nil, fmt.Errorf("JWTConfig.Leeway is %v: want 0 or more", cfg.Leeway)
	case cfg.Refresh < 0:
		return nil, fmt.Errorf("JWTConfig.Refresh is %v: want 0 or more", cfg.Refresh)
	}
	if cfg.GrantsClaim == "" {
		cfg.GrantsClaim = JWTGrantsClaimDefault
	}
	if cfg.PrincipalClaim == "" {
		cfg.PrincipalClaim = JWTPrincipalClaimDefault
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = JWTLeewayDefault
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = JWTRefreshDefault
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: jwksFetchTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	v := &JWTVerifier{cfg: cfg, unknownKeyRetry: JWTUnknownKeyRefreshMin, done: make(chan struct{})}
	if setup != nil {
		setup(v)
	}
	if err := v.fetch(ctx); err != nil {
		return nil, err
	}
	ctx, v.cancel = context.WithCancel(ctx)
	go v.refreshLoop(ctx)
	return v, nil
}

// Close stops the key set's refresh, and waits for it to end. It may be
// called more than once.
func (v *JWTVerifier) Close() error {
	v.closeOnce.Do(v.cancel)
	<-v.done
	return nil
}

func (v *JWTVerifier) refreshLoop(ctx context.Context) {
	defer close(v.done)
	ticker := time.NewTicker(v.cfg.Refresh)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := v.fetch(ctx)
		if err != nil && ctx.Err() == nil {
			v.cfg.Logger.WarnContext(ctx, "JWKS refresh failed; the keys fetched before stay in use", "error", err)
		}
		v.testSignals.refreshed.Signal(err)
	}
}

// fetch reads the key set and, if it holds a usable key, uses it from now
// on.
func (v *JWTVerifier) fetch(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	return v.fetchLocked(ctx)
}

func (v *JWTVerifier) fetchLocked(ctx context.Context) error {
	v.lastFetch = time.Now()
	data, err := v.readJWKS(ctx)
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", v.cfg.JWKS, err)
	}
	keys, err := parseJWKS(data, v.cfg.Logger)
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", v.cfg.JWKS, err)
	}
	v.keys.Store(keys)
	return nil
}

func (v *JWTVerifier) readJWKS(ctx context.Context) ([]byte, error) {
	src := v.cfg.JWKS
	if !strings.HasPrefix(src, "https://") && !strings.HasPrefix(src, "http://") {
		return os.ReadFile(src)
	}
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET answered %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, jwksBytesMax+1))
	if err != nil {
		return nil, err
	}
	if len(data) > jwksBytesMax {
		return nil, fmt.Errorf("key set is over %d bytes", jwksBytesMax)
	}
	return data, nil
}

// parseJWKS parses a JSON Web Key Set, keeping the public signing keys: a
// key that does not parse, is symmetric or is for encryption is skipped
// with a warning, and a private key stands for its public half.
func parseJWKS(data []byte, logger *slog.Logger) (*jwtKeys, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	keys := &jwtKeys{byKID: map[string][]jose.JSONWebKey{}}
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			logger.Warn("JWKS key skipped", "index", i, "error", err)
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			k = k.Public()
		default:
			logger.Warn("JWKS key skipped: not a public signing key", "index", i, "kid", k.KeyID)
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			logger.Warn("JWKS key skipped: its use is not sig", "index", i, "kid", k.KeyID, "use", k.Use)
			continue
		}
		keys.all = append(keys.all, k)
		keys.byKID[k.KeyID] = append(keys.byKID[k.KeyID], k)
	}
	if len(keys.all) == 0 {
		return nil, errors.New("the key set has no public signing key (RSA, EC or Ed25519)")
	}
	return keys, nil
}

// candidates returns the keys that may have signed a token with kid and
// alg: those of kid, or every key if kid is empty; ok is false if kid is
// not empty and the set has no key by that kid.
func (k *jwtKeys) candidates(kid string, alg string) (keys []jose.JSONWebKey, ok bool) {
	list := k.all
	if kid != "" {
		list, ok = k.byKID[kid]
		if !ok {
			return nil, false
		}
	}
	for _, key := range list {
		if key.Algorithm == "" || key.Algorithm == alg {
			keys = append(keys, key)
		}
	}
	return keys, true
}

// refreshForKID fetches the key set if it has no key by kid, unless it was
// fetched less than unknownKeyRetry ago.
func (v *JWTVerifier) refreshForKID(ctx context.Context, kid string) {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if _, ok := v.keys.Load().byKID[kid]; ok {
		return // fetched by another call while this one waited
	}
	if time.Since(v.lastFetch) < v.unknownKeyRetry {
		return
	}
	if err := v.fetchLocked(ctx); err != nil {
		v.cfg.Logger.WarnContext(ctx, "JWKS fetch for an unknown key failed; the keys fetched before stay in use", "error", err)
	}
}

// Authenticate authenticates c by its bearer JWT. A call with no
// authorization header and a verified client certificate is the principal
// named by the certificate's subject, with no grants.
func (v *JWTVerifier) Authenticate(ctx context.Context, c *Credentials) (*Principal, error) {
	if c.Authorization == "" {
		if p := certPrincipal(nil, c.TLS); p != nil {
			return p, nil
		}
	}
	token, err := ParseBearer(c.Authorization)
	if err != nil {
		return nil, err
	}
	return v.Verify(ctx, token)
}

// Verify returns the principal of a JWT, or an error as Authenticate does.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	tok, err := jwt.ParseSigned(token, jwtAlgorithms)
	if err != nil {
		return nil, Unauthenticated("TOKEN_INVALID", "the bearer token is not a JWT signed with one of RS256, RS384, RS512, ES256, ES384, PS256 or EdDSA")
	}
	if len(tok.Headers) != 1 {
		return nil, Unauthenticated("TOKEN_INVALID", "the bearer token is not a JWT with one signature")
	}
	kid, alg := tok.Headers[0].KeyID, tok.Headers[0].Algorithm
	keys, ok := v.keys.Load().candidates(kid, alg)
	if !ok {
		v.refreshForKID(ctx, kid)
		keys, ok = v.keys.Load().candidates(kid, alg)
	}
	if !ok || len(keys) == 0 {
		return nil, Unauthenticated("UNKNOWN_KEY", fmt.Sprintf("the token's signing key (kid %q, %s) is not in the key set of issuer %q", clip(kid), alg, v.cfg.Issuer))
	}
	var (
		std   jwt.Claims
		other map[string]any
	)
	verified := false
	for _, key := range keys {
		if tok.Claims(key.Key, &std, &other) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, Unauthenticated("TOKEN_INVALID", "the token's signature does not verify with the key set")
	}
	return v.principal(&std, other)
}

// principal checks the verified claims of a token and returns its
// principal.
func (v *JWTVerifier) principal(std *jwt.Claims, claims map[string]any) (*Principal, error) {
	if std.Expiry == nil {
		return nil, Unauthenticated("TOKEN_INVALID", "the token has no expiry (exp)")
	}
	err := std.ValidateWithLeeway(jwt.Expected{Issuer: v.cfg.Issuer, AnyAudience: jwt.Audience{v.cfg.Audience}, Time: time.Now()}, v.cfg.Leeway)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, Unauthenticated("WRONG_ISSUER", fmt.Sprintf("the token's issuer is not %q", v.cfg.Issuer))
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, Unauthenticated("WRONG_AUDIENCE", fmt.Sprintf("the token's audience is not %q", v.cfg.Audience))
	case errors.Is(err, jwt.ErrExpired):
		return nil, Unauthenticated("TOKEN_EXPIRED", "the token expired at "+std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, Unauthenticated("TOKEN_NOT_YET_VALID", "the token is not valid before "+std.NotBefore.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, Unauthenticated("TOKEN_INVALID", "the token was issued in the future, at "+std.IssuedAt.Time().UTC().Format(time.RFC3339))
	default:
		return nil, Unauthenticated("TOKEN_INVALID", "the token's claims are not valid")
	}
	name, _ := claims[v.cfg.PrincipalClaim].(string)
	if name == "" {
		return nil, Unauthenticated("TOKEN_INVALID", fmt.Sprintf("the token has no claim %q naming its principal", v.cfg.PrincipalClaim))
	}
	var list []string
	switch g := claims[v.cfg.GrantsClaim].(type) {
	case nil:
	case string:
		list = strings.Fields(g)
	case []any:
		for _, e := range g {
			s, ok := e.(string)
			if !ok {
				return nil, Unauthenticated("TOKEN_INVALID", fmt.Sprintf("the token's claim %q must hold strings, grants such as reader:*", v.cfg.GrantsClaim))
			}
			list = append(list, s)
		}
	default:
		return nil, Unauthenticated("TOKEN_INVALID", fmt.Sprintf("the token's claim %q must be an array of grants or a space-separated string", v.cfg.GrantsClaim))
	}
	grants, err := ParseGrants(list)
	if err != nil {
		return nil, Unauthenticated("TOKEN_INVALID", fmt.Sprintf("the token's claim %q: %v", v.cfg.GrantsClaim, err))
	}
	return &Principal{Name: name, Grants: grants}, nil
}

// clip shortens a string of a token's header for a message.
func clip(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}
