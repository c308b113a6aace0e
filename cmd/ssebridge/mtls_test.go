package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// clientCA is a CA of client certificates, with its PEM file.
type clientCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newClientCA(t *testing.T) clientCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "publishers CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return clientCA{cert, key, file}
}

// issue returns a client certificate named cn, signed by ca.
func (ca clientCA) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLSPublisher runs the service with --client-ca and
// --client-cert-publish: a publisher with a mapped certificate publishes
// without a token; one without a certificate, or with a certificate of
// another CA, is refused.
func TestMutualTLSPublisher(t *testing.T) {
	serverCert, ca := newTestCert(t), newClientCA(t)
	s := startServer(t, func(c *serveConfig) {
		c.Security.Dev = false
		c.TLSCert, c.TLSKey = serverCert.certFile, serverCert.keyFile
		c.Security.ClientCA = ca.file
		if err := c.Security.ClientCertPublish.Set("billing=invoices.*"); err != nil {
			t.Fatal(err)
		}
	})
	publish := func(certs []tls.Certificate, topic string) error {
		conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: serverCert.pool, Certificates: certs})))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, err = ssebridgev1.NewEventServiceClient(conn).Publish(ctx, &ssebridgev1.PublishRequest{Topic: topic, Data: "x"})
		return err
	}
	billing := []tls.Certificate{ca.issue(t, "billing")}
	if err := publish(billing, "invoices.paid"); err != nil {
		t.Fatalf("billing with its certificate: %v", err)
	}
	if err := publish(billing, "orders.paid"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("billing to a topic it may not publish to: %v", err)
	}
	if err := publish(nil, "invoices.paid"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no certificate: %v", err)
	}
	if err := publish([]tls.Certificate{newClientCA(t).issue(t, "billing")}, "invoices.paid"); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
}
