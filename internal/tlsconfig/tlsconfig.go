package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrPeerNotAllowed is returned (wrapped) by a handshake whose verified peer
// has none of the allowed SPIFFE IDs or DNS names.
var ErrPeerNotAllowed = errors.New("tlsconfig: peer certificate is not on the allow-list")

// DefaultCheckInterval is how often, at most, the files are looked at again.
const DefaultCheckInterval = 5 * time.Second

// Files names the PEM files and the peer allow-list.
type Files struct {
	// CertFile and KeyFile: this side's certificate (chain) and key.
	// Required for a server; optional for a client (then no client
	// certificate is presented).
	CertFile, KeyFile string
	// CAFile: the bundle peers are verified against. On a server it turns
	// on mutual TLS; on a client it replaces the system roots.
	CAFile string
	// AllowSPIFFEIDs and AllowDNSNames, when either is set, admit only a
	// verified peer whose leaf certificate has one of these URI SANs or
	// DNS SANs. Exact matches, no wildcards.
	AllowSPIFFEIDs []string
	AllowDNSNames  []string
	// CheckInterval bounds how often the files are read again (0 means
	// DefaultCheckInterval; negative means at every handshake).
	CheckInterval time.Duration
	// Logger, when set, hears of every rotation applied and of every
	// change that could not be used (once per distinct error).
	Logger *slog.Logger
}

// Reloader serves the newest consistent material of its Files.
type Reloader struct {
	files    Files
	interval time.Duration

	cur       atomic.Pointer[material]
	nextCheck atomic.Int64 // unix nanoseconds
	mu        sync.Mutex   // serialises reloads
	lastErr   atomic.Pointer[error]
	now       func() time.Time
}

// material is one consistent read of the files; it is never mutated.
type material struct {
	sum  [32]byte // SHA-256 of the contents
	cert *tls.Certificate
	pool *x509.CertPool // nil: system roots (client) / no mTLS (server)
}

// New reads the files once; an error here means they are missing or do not
// form a usable certificate, key and bundle.
func New(f Files) (*Reloader, error) {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("tlsconfig: cert_file and key_file go together")
	}
	if f.CAFile == "" && (len(f.AllowSPIFFEIDs) > 0 || len(f.AllowDNSNames) > 0) {
		return nil, errors.New("tlsconfig: an allow-list needs ca_file: peers are only matched once verified")
	}
	for _, id := range f.AllowSPIFFEIDs {
		if len(id) < len("spiffe://x") || id[:9] != "spiffe://" {
			return nil, fmt.Errorf("tlsconfig: %q is not a SPIFFE ID (spiffe://trust-domain/path)", id)
		}
	}
	r := &Reloader{files: f, interval: f.CheckInterval, now: time.Now}
	if r.interval == 0 {
		r.interval = DefaultCheckInterval
	}
	data, sum, err := r.load()
	if err != nil {
		return nil, err
	}
	m, err := r.parse(data, sum)
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	r.nextCheck.Store(r.now().Add(r.interval).UnixNano())
	return r, nil
}

// Err is the error of the last reload attempt, nil when it succeeded: the
// files changed but could not be used, and the previous material serves.
func (r *Reloader) Err() error {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// current returns the material to use now, reloading first when the files
// may have changed.
func (r *Reloader) current() *material {
	if now := r.now().UnixNano(); r.interval < 0 || now >= r.nextCheck.Load() {
		r.refresh(now)
	}
	return r.cur.Load()
}

// refresh reads the files and applies them when their contents changed.
// The contents decide, not sizes or modification times: a replacement of
// the same size and time (cp -p, rsync -a, a fixed-mtime image) is a
// rotation too, and the files are small enough to read once per interval.
func (r *Reloader) refresh(now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.interval >= 0 && now < r.nextCheck.Load() {
		return // another handshake just did it
	}
	r.nextCheck.Store(now + int64(r.interval))
	old := r.cur.Load()
	data, sum, err := r.load()
	if err == nil && sum == old.sum {
		r.fail(nil) // the files are (back to) what serves
		return
	}
	var m *material
	if err == nil {
		m, err = r.parse(data, sum)
	}
	if err != nil {
		r.fail(err)
		return
	}
	r.fail(nil)
	r.cur.Store(m)
	if r.files.Logger != nil {
		r.files.Logger.Info("TLS files reloaded", "files", r.paths())
	}
}

// fail records the outcome of a reload attempt; a new error is logged once,
// not at every interval while it lasts.
func (r *Reloader) fail(err error) {
	prev := r.Err()
	if err == nil {
		r.lastErr.Store(nil)
		return
	}
	r.lastErr.Store(&err)
	if r.files.Logger != nil && (prev == nil || prev.Error() != err.Error()) {
		r.files.Logger.Warn("TLS files changed but cannot be used; the previous ones keep serving", "files", r.paths(), "err", err)
	}
}

func (r *Reloader) paths() []string {
	var p []string
	for _, f := range []string{r.files.CertFile, r.files.KeyFile, r.files.CAFile} {
		if f != "" {
			p = append(p, f)
		}
	}
	return p
}

// load reads the files (cert, key, CA; empty for those not set) and the
// SHA-256 of their contents together.
func (r *Reloader) load() (data [3][]byte, sum [32]byte, err error) {
	h := sha256.New()
	for i, p := range []string{r.files.CertFile, r.files.KeyFile, r.files.CAFile} {
		if p == "" {
			h.Write([]byte{1})
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return data, sum, fmt.Errorf("tlsconfig: %w", err)
		}
		data[i] = b
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	h.Sum(sum[:0])
	return data, sum, nil
}

// parse builds the material of one read of the files.
func (r *Reloader) parse(data [3][]byte, sum [32]byte) (*material, error) {
	m := &material{sum: sum}
	if r.files.CertFile != "" {
		c, err := tls.X509KeyPair(data[0], data[1])
		if err != nil {
			return nil, fmt.Errorf("tlsconfig: %s and %s: %w", r.files.CertFile, r.files.KeyFile, err)
		}
		m.cert = &c
	}
	if r.files.CAFile != "" {
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(data[2]) {
			return nil, fmt.Errorf("tlsconfig: %s holds no PEM certificate", r.files.CAFile)
		}
	}
	return m, nil
}

// Pool returns the CA bundle in force now (nil without CAFile), reread
// like the rest when its file changes; a file that stops being a usable
// bundle keeps the previous pool (Err says why). It serves checks that
// verify a certificate outside a handshake, such as the relay's writers.
func (r *Reloader) Pool() *x509.CertPool { return r.current().pool }

// ServerConfig returns a listener's config. It may be cloned (gRPC's
// credentials.NewTLS does): everything it reads goes through r.
func (r *Reloader) ServerConfig() *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			m := r.current()
			if m.cert == nil {
				return nil, errors.New("tlsconfig: no server certificate configured")
			}
			return m.cert, nil
		},
	}
	if r.files.CAFile != "" {
		// The pool may change with each rotation, so the chain is verified
		// here against the current one rather than by crypto/tls against a
		// pool fixed in ClientCAs.
		c.ClientAuth = tls.RequireAnyClientCert
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return r.verify(raw, "", x509.ExtKeyUsageClientAuth)
		}
	}
	return c
}

// ClientConfig returns an outgoing connection's config. serverName, when
// not empty, is the name the server's certificate must carry (otherwise the
// dialled host, which crypto/tls fills into ServerName).
func (r *Reloader) ClientConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.files.CertFile != "" {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.current().cert, nil
		}
	}
	switch {
	case len(r.files.AllowSPIFFEIDs) > 0:
		// A SPIFFE server is named by its ID, not by the dialled host:
		// crypto/tls's host name check is replaced by the ID check, and
		// the chain is verified against the current bundle.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, pc := range cs.PeerCertificates {
				raw[i] = pc.Raw
			}
			return r.verify(raw, "", x509.ExtKeyUsageServerAuth)
		}
	case r.files.CAFile != "":
		// crypto/tls verifies the chain and the dialled name (the name is
		// not visible to a callback when it is an IP address); the
		// bundle is the one current now, so a client built before a CA
		// rotation keeps the old bundle until it is built again.
		c.RootCAs = r.current().pool
		if len(r.files.AllowDNSNames) > 0 {
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				return r.allowed(cs.PeerCertificates[0])
			}
		}
	}
	return c
}

// verify checks the chain against the current bundle and the leaf against
// the allow-list.
func (r *Reloader) verify(raw [][]byte, dnsName string, usage x509.ExtKeyUsage) error {
	if len(raw) == 0 {
		return errors.New("tlsconfig: the peer sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("tlsconfig: peer certificate: %w", err)
		}
		certs[i] = c
	}
	opts := x509.VerifyOptions{
		Roots:         r.current().pool,
		Intermediates: x509.NewCertPool(),
		DNSName:       dnsName,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("tlsconfig: peer certificate: %w", err)
	}
	return r.allowed(leaf)
}

func (r *Reloader) allowed(leaf *x509.Certificate) error {
	ids, names := r.files.AllowSPIFFEIDs, r.files.AllowDNSNames
	if len(ids) == 0 && len(names) == 0 {
		return nil
	}
	for _, u := range leaf.URIs {
		if u.Scheme == "spiffe" && slices.Contains(ids, u.String()) {
			return nil
		}
	}
	for _, n := range leaf.DNSNames {
		if slices.Contains(names, n) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrPeerNotAllowed, describe(leaf))
}

// describe names a certificate by its SANs, for the refusal's log line.
func describe(c *x509.Certificate) string {
	var s []string
	for _, u := range c.URIs {
		s = append(s, u.String())
	}
	s = append(s, c.DNSNames...)
	if len(s) == 0 {
		return "subject " + c.Subject.String()
	}
	return fmt.Sprint(s)
}
