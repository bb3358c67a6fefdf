package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"lro.dev/lro/lroauth"
	"lro.dev/lro/lrogrpc"
)

// The secure cases run pg_single_starts_64 and pg_remote_workers again
// with TLS and authentication on: the server speaks TLS with a certificate
// of its own CA, authenticates every call by a static bearer token
// (lroauth's token file) and authorizes it by the token's grants
// (lroauth.Grants), and the load and worker processes dial with the CA and
// send the token. Their ratios to the plain cases are the cost of security.

const (
	// secureCAEnv names the PEM file of the CA that the secure cases'
	// clients trust; set, dial uses TLS.
	secureCAEnv = "LRO_BENCH_TLS_CA"
	// secureTokenEnv names the bearer token that the secure cases' clients
	// send.
	secureTokenEnv = "LRO_BENCH_TOKEN"
)

// security is how serveGRPC serves: nil for the plain cases.
var security *serverSecurity

type serverSecurity struct {
	options   []grpc.ServerOption
	authorize lrogrpc.Option
}

// secure sets up the secure variant of a case, in its process: a CA and a
// server certificate, a token and its token file, in dir; serveGRPC then
// serves with them, and the processes the case starts (they inherit the
// environment) dial with them.
func secure(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lro bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leafTemplate := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	caFile := filepath.Join(dir, "bench-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		return err
	}
	tokenBytes := make([]byte, 32)
	rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes)
	sum := sha256.Sum256([]byte(token))
	tokenFile := filepath.Join(dir, "bench-tokens.yaml")
	yaml := fmt.Sprintf("tokens:\n  - principal: bench\n    sha256: %x\n    grants: [\"admin:*\"]\n", sum)
	if err := os.WriteFile(tokenFile, []byte(yaml), 0o600); err != nil {
		return err
	}
	tokens, err := lroauth.LoadTokenFile(tokenFile)
	if err != nil {
		return err
	}
	authn := lroauth.New(tokens, nil)
	cert := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key, Leaf: nil}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	security = &serverSecurity{
		options: []grpc.ServerOption{grpc.Creds(creds),
			grpc.ChainUnaryInterceptor(lroauth.UnaryServerInterceptor(authn)),
			grpc.ChainStreamInterceptor(lroauth.StreamServerInterceptor(authn))},
		authorize: lrogrpc.WithAuthorize(lroauth.Grants),
	}
	return errors.Join(os.Setenv(secureCAEnv, caFile), os.Setenv(secureTokenEnv, token))
}

// clientSecurity returns the dial options of the secure cases' clients, if
// the environment names a CA.
func clientSecurity() ([]grpc.DialOption, error) {
	caFile := os.Getenv(secureCAEnv)
	if caFile == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})),
		grpc.WithPerRPCCredentials(bearer(os.Getenv(secureTokenEnv))),
	}, nil
}

// bearer sends a token in every call's authorization header.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

// secureSuffix is "_secure" in the secure cases, for their figures' keys.
func secureSuffix() string {
	if security != nil {
		return "_secure"
	}
	return ""
}
