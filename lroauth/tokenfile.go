package lroauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"lro.dev/lro/internal/testsignal"
)

// WatchIntervalDefault is how often TokenFile.Watch looks at the file when
// given no interval.
const WatchIntervalDefault = time.Second

// A TokenFile is an Authenticator of static bearer tokens and of client
// certificates, read from a YAML file:
//
//	tokens:
//	  - principal: ci-bot
//	    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    grants: ["starter:projects/p1/locations/*", "reader:*"]
//	certificates:
//	  - subject: "CN=worker-1,O=Example"
//	    grants: ["worker:images.*"]
//
// Each token entry names a principal, the hex SHA-256 of its token (the
// token itself is never stored: `printf %s "$TOKEN" | sha256sum` gives the
// hash) and its grants (ParseGrant). Each certificate entry gives grants to
// the client certificates whose leaf's subject, as pkix.Name.String prints
// it, is subject.
//
// A call with a bearer token is authenticated by the token alone, even if
// it also has a client certificate. A call with no token and a verified
// client certificate is authenticated by the certificate: a subject that
// the file does not list is a principal of that name with no grants, whose
// calls are PERMISSION_DENIED rather than UNAUTHENTICATED, since the TLS
// handshake proved who it is.
//
// The principals that Authenticate returns are shared between calls and
// must not be modified.
type TokenFile struct {
	path  string
	table atomic.Pointer[tokenTable]

	mu    sync.Mutex // serializes loads; guards stamp and sum
	stamp fileStamp  // of the file last read
	sum   [sha256.Size]byte

	testSignals tokenFileSignals
}

// tokenFileSignals are the moments of a TokenFile that tests await.
type tokenFileSignals struct {
	// reloaded is signalled after Watch reads a changed file, with the
	// error of its load (nil: the new table is in use).
	reloaded testsignal.Signal[error]
}

type tokenTable struct {
	// byHash maps the SHA-256 of a token to its principal. A token is
	// looked up by its hash, not compared with a stored secret: the
	// timing of a map lookup depends on the hash of the presented token,
	// which tells an attacker nothing about any valid token's preimage,
	// so a constant-time comparison would protect nothing here.
	byHash    map[[sha256.Size]byte]*Principal
	bySubject map[string]*Principal
}

// tokenFileYAML is the file's shape.
type tokenFileYAML struct {
	Tokens []struct {
		Principal string   `yaml:"principal"`
		SHA256    string   `yaml:"sha256"`
		Grants    []string `yaml:"grants"`
	} `yaml:"tokens"`
	Certificates []struct {
		Subject string   `yaml:"subject"`
		Grants  []string `yaml:"grants"`
	} `yaml:"certificates"`
}

// LoadTokenFile reads the token file at path (see TokenFile). A file that
// is not valid YAML, has a field it does not know, or an entry with a bad
// or missing value (hash, principal, subject, grants), or a hash, principal
// or subject listed twice, is an error that names the entry and its line.
func LoadTokenFile(path string) (*TokenFile, error) {
	f := &TokenFile{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the file again and, if it loads, uses it from now on. If it
// does not, the table read before stays in use and Reload returns the
// error. A server may call it on SIGHUP; Watch calls it when the file
// changes.
func (f *TokenFile) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadLocked()
}

func (f *TokenFile) reloadLocked() error {
	stamp, err := statFile(f.path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	// Taken before the parse, so that a bad file is not read again and
	// again until it changes.
	f.stamp = stamp
	sum := sha256.Sum256(data)
	if f.table.Load() != nil && sum == f.sum {
		return nil
	}
	table, err := parseTokenFile(data)
	if err != nil {
		return fmt.Errorf("token file %s: %w", f.path, err)
	}
	f.sum = sum
	f.table.Store(table)
	return nil
}

// Watch looks at the file every interval (WatchIntervalDefault if zero or
// less) and reloads it when its size, modification time or inode changed,
// so that tokens are added and revoked without a restart. Replace the file
// by a rename so that Watch never reads it half written. A file that does
// not load after a change is logged at error level, and the table read
// before stays in use. Watch returns when ctx is done; run it in its own
// goroutine.
func (f *TokenFile) Watch(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	if interval <= 0 {
		interval = WatchIntervalDefault
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		changed, err := f.reloadIfChanged()
		if !changed {
			continue
		}
		if err != nil {
			logger.ErrorContext(ctx, "token file did not reload; the tokens read before stay in use", "error", err)
		} else {
			logger.InfoContext(ctx, "token file reloaded", "path", f.path)
		}
		f.testSignals.reloaded.Signal(err)
	}
}

// reloadIfChanged reloads the file if its stamp changed; changed says
// whether it tried.
func (f *TokenFile) reloadIfChanged() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp, err := statFile(f.path)
	if err != nil {
		if f.stamp == (fileStamp{}) {
			return false, nil // already reported
		}
		// Gone or unreadable (a rename in progress, a bad mount): report
		// once, and look again when it comes back.
		f.stamp = fileStamp{}
		return true, fmt.Errorf("token file: %w", err)
	}
	if stamp == f.stamp {
		return false, nil
	}
	return true, f.reloadLocked()
}

// Authenticate authenticates c by its bearer token if it has an
// authorization header, else by its verified client certificate; see
// TokenFile.
func (f *TokenFile) Authenticate(ctx context.Context, c *Credentials) (*Principal, error) {
	if c.Authorization == "" {
		if p := certPrincipal(f, c.TLS); p != nil {
			return p, nil
		}
	}
	token, err := ParseBearer(c.Authorization)
	if err != nil {
		return nil, err
	}
	return f.tokenPrincipal(token)
}

func (f *TokenFile) tokenPrincipal(token string) (*Principal, error) {
	if p := f.table.Load().byHash[sha256.Sum256([]byte(token))]; p != nil {
		return p, nil
	}
	return nil, Unauthenticated("TOKEN_INVALID", "the bearer token is not known (revoked, mistyped, or meant for another server)")
}

// certPrincipal returns the principal of the leaf of tls's first verified
// chain, with the grants that f gives its subject (none if f is nil or does
// not list it), or nil if tls has no verified client certificate.
func certPrincipal(f *TokenFile, tls *tls.ConnectionState) *Principal {
	if tls == nil || len(tls.VerifiedChains) == 0 || len(tls.VerifiedChains[0]) == 0 {
		return nil
	}
	subject := tls.VerifiedChains[0][0].Subject.String()
	if f != nil {
		if p := f.table.Load().bySubject[subject]; p != nil {
			return p
		}
	}
	return &Principal{Name: subject}
}

// parseTokenFile parses and checks a token file.
func parseTokenFile(data []byte) (*tokenTable, error) {
	var file tokenFileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		if errors.Is(err, io.EOF) {
			// Most likely a file caught between its truncation and its
			// writing: an empty table would refuse every caller.
			return nil, errors.New("the file is empty; to refuse every token, write tokens: []")
		}
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	lines := entryLines(data)
	at := func(list string, i int) string {
		if l := lines[list]; i < len(l) {
			return fmt.Sprintf("%s[%d] (line %d)", list, i, l[i])
		}
		return fmt.Sprintf("%s[%d]", list, i)
	}
	t := &tokenTable{byHash: map[[sha256.Size]byte]*Principal{}, bySubject: map[string]*Principal{}}
	names := map[string]string{}
	for i, e := range file.Tokens {
		where := at("tokens", i)
		if e.Principal == "" {
			return nil, fmt.Errorf("%s: principal is missing", where)
		}
		if prev, dup := names[e.Principal]; dup {
			return nil, fmt.Errorf("%s: principal %q is already %s", where, e.Principal, prev)
		}
		names[e.Principal] = where
		var sum [sha256.Size]byte
		if n, err := hex.Decode(sum[:], []byte(e.SHA256)); err != nil || n != sha256.Size || len(e.SHA256) != 2*sha256.Size {
			return nil, fmt.Errorf("%s: sha256 must be the 64 hex digits of the token's SHA-256, such as printf %%s \"$TOKEN\" | sha256sum prints", where)
		}
		if _, dup := t.byHash[sum]; dup {
			return nil, fmt.Errorf("%s: this sha256 is already the token of principal %q", where, t.byHash[sum].Name)
		}
		grants, err := entryGrants(e.Grants)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		t.byHash[sum] = &Principal{Name: e.Principal, Grants: grants}
	}
	for i, e := range file.Certificates {
		where := at("certificates", i)
		if e.Subject == "" {
			return nil, fmt.Errorf("%s: subject is missing", where)
		}
		if _, dup := t.bySubject[e.Subject]; dup {
			return nil, fmt.Errorf("%s: subject %q is listed twice", where, e.Subject)
		}
		grants, err := entryGrants(e.Grants)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		t.bySubject[e.Subject] = &Principal{Name: e.Subject, Grants: grants}
	}
	return t, nil
}

func entryGrants(list []string) ([]Grant, error) {
	if len(list) == 0 {
		return nil, errors.New("grants are missing: give at least one ROLE:PATTERN, such as reader:*")
	}
	return ParseGrants(list)
}

// entryLines returns the line of each entry of the file's top-level lists,
// to name them in errors. The file has already decoded, so it parses.
func entryLines(data []byte) map[string][]int {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	lines := map[string][]int{}
	m := root.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		for _, item := range m[i+1].Content {
			lines[m[i].Value] = append(lines[m[i].Value], item.Line)
		}
	}
	return lines
}
