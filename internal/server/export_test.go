package server

import "google.golang.org/grpc"

// SetTestAuthentication makes f the authentication of the server that
// config configures: the first interceptor of unary calls.
func SetTestAuthentication(config *Config, f grpc.UnaryServerInterceptor) {
	config.authenticate = f
}
