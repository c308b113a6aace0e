// Package tlsreload serves a TLS certificate and key from files and picks
// up new files without a restart, so that certificates can be renewed in
// place (by cert-manager, certbot or an operator).
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// checkInterval is the least time between two looks at the files.
const checkInterval = time.Second

// Keypair is a certificate and key read from two files. Its
// GetCertificate method, used as tls.Config.GetCertificate, returns the
// current pair and reloads the files when either has changed (by
// modification time or size), looking at most once a second. A pair that
// fails to load is logged and the previous one kept. Keypair is safe for
// concurrent use.
type Keypair struct {
	certPath, keyPath string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // guards the fields below
	checked time.Time
	stamp   [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewKeypair loads a certificate chain and its key from PEM files. log
// receives reload failures; nil means none.
func NewKeypair(certPath, keyPath string, log *slog.Logger) (*Keypair, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Keypair{certPath: certPath, keyPath: keyPath, log: log}
	stamp, err := k.stamps()
	if err != nil {
		return nil, err
	}
	if err := k.load(stamp); err != nil {
		return nil, err
	}
	k.checked = time.Now()
	return k, nil
}

// Certificate returns the current certificate.
func (k *Keypair) Certificate() *tls.Certificate {
	k.maybeReload()
	return k.cert.Load()
}

// GetCertificate implements tls.Config.GetCertificate.
func (k *Keypair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// GetClientCertificate implements tls.Config.GetClientCertificate, for
// clients that present the pair.
func (k *Keypair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

func (k *Keypair) maybeReload() {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if now.Sub(k.checked) < checkInterval {
		return
	}
	k.checked = now
	stamp, err := k.stamps()
	if err != nil {
		k.log.Warn("TLS certificate files unreadable; keeping the current certificate", "err", err)
		return
	}
	if stamp == k.stamp {
		return
	}
	if err := k.load(stamp); err != nil {
		k.log.Warn("TLS certificate files changed but do not load; keeping the current certificate", "err", err)
		k.stamp = stamp // do not retry until they change again
		return
	}
	k.log.Info("TLS certificate reloaded", "cert", k.certPath, "not_after", k.cert.Load().Leaf.NotAfter)
}

func (k *Keypair) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, p := range []string{k.certPath, k.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return s, fmt.Errorf("tlsreload: %w", err)
		}
		s[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return s, nil
}

func (k *Keypair) load(stamp [2]fileStamp) error {
	cert, err := tls.LoadX509KeyPair(k.certPath, k.keyPath)
	if err != nil {
		return fmt.Errorf("tlsreload: loading %s and %s: %w", k.certPath, k.keyPath, err)
	}
	// LoadX509KeyPair fills Leaf since Go 1.23.
	if cert.Leaf == nil {
		return errors.New("tlsreload: no leaf certificate")
	}
	k.cert.Store(&cert)
	k.stamp = stamp
	return nil
}

// LoadCertPool reads a PEM file of CA certificates.
func LoadCertPool(path string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("tlsreload: %s holds no PEM certificate", path)
	}
	return pool, nil
}
