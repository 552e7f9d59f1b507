package tracing

import (
	"crypto/tls"

	"google.golang.org/grpc/credentials"
)

func credentialsFromTLS(c *tls.Config) credentials.TransportCredentials { return credentials.NewTLS(c) }
