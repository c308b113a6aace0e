package tlsreload_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/tlsreload"
)

// writePair writes a self-signed certificate for 127.0.0.1 named cn.
func writePair(t *testing.T, dir, cn string) (certPath, keyPath string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Write to temporary names and rename, as tools that renew do.
	for path, block := range map[string]*pem.Block{certPath: {Type: "CERTIFICATE", Bytes: der}, keyPath: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	return certPath, keyPath
}

// servedName dials a TLS server and returns the common name it presents.
func servedName(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestKeypairReloads(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writePair(t, dir, "first")
	kp, err := tlsreload.NewKeypair(certPath, keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: kp.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	if got := servedName(t, ln.Addr().String()); got != "first" {
		t.Fatalf("serves %q", got)
	}
	writePair(t, dir, "second")
	deadline := time.Now().Add(10 * time.Second)
	for servedName(t, ln.Addr().String()) != "second" {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not picked up")
		}
		time.Sleep(200 * time.Millisecond) // the files are looked at once a second
	}
	// A broken renewal keeps the working certificate.
	if err := os.WriteFile(certPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := servedName(t, ln.Addr().String()); got != "second" {
		t.Fatalf("after a broken renewal serves %q", got)
	}
}

func TestNewKeypairErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsreload.NewKeypair(filepath.Join(dir, "none"), filepath.Join(dir, "none"), nil); err == nil {
		t.Error("missing files accepted")
	}
	certPath, _ := writePair(t, dir, "x")
	if _, err := tlsreload.NewKeypair(certPath, certPath, nil); err == nil {
		t.Error("a certificate as its own key accepted")
	}
	if _, err := tlsreload.LoadCertPool(filepath.Join(dir, "none")); err == nil {
		t.Error("missing CA file accepted")
	}
	if p, err := tlsreload.LoadCertPool(certPath); err != nil || p == nil {
		t.Errorf("LoadCertPool: %v", err)
	}
}
