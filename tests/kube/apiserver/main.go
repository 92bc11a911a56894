// Command kube-apiserver-local runs a real etcd and a real kube-apiserver in
// one process, on loopback only, for the operator's integration tests.
//
//	kube-apiserver-local -workdir DIR [-port N] [-log FILE|-] [-- extra kube-apiserver flags]
//
// Everything it needs lives in DIR and is reused on the next start on the same
// DIR: certificates and keys (DIR/pki), etcd data (DIR/etcd), chosen ports
// (DIR/ports.json; the same ports are taken again when they are free). On each
// start it (re)writes DIR/kubeconfig (admin, group system:masters) and
// DIR/apiserver.env. It runs until SIGTERM/SIGINT, then stops kube-apiserver
// gracefully and closes etcd.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"golang.org/x/sys/unix"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/component-base/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

const (
	serviceCIDR   = "10.0.0.0/24"
	serviceIP     = "10.0.0.1" // first IP of serviceCIDR: the "kubernetes" Service
	saIssuer      = "https://kubernetes.default.svc.cluster.local"
	adminUser     = "imap-probe-admin"
	certValidity  = 10 * 365 * 24 * time.Hour
	etcdStartWait = 60 * time.Second
)

type ports struct {
	APIServer  int `json:"apiserver"`
	EtcdClient int `json:"etcd_client"`
	EtcdPeer   int `json:"etcd_peer"`
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s kube-apiserver-local: %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

func fatalf(format string, args ...any) {
	logf("FATAL: "+format, args...)
	os.Exit(1)
}

func main() {
	workdir := flag.String("workdir", "", "state directory (created if missing); required")
	port := flag.Int("port", 0, "kube-apiserver secure port; 0 = the one saved in workdir/ports.json if free, else a free one")
	logPath := flag.String("log", "", "log file (appended); default workdir/apiserver.log; '-' = keep stderr")
	etcdFsync := flag.Bool("etcd-fsync", false, "let etcd fsync its WAL (off by default: test data, survives a process kill, not a machine crash)")
	flag.Parse()
	if *workdir == "" {
		fmt.Fprintln(os.Stderr, "usage: kube-apiserver-local -workdir DIR [-port N] [-log FILE|-] [-- extra kube-apiserver flags]")
		os.Exit(2)
	}
	wd, err := filepath.Abs(*workdir)
	if err != nil {
		fatalf("%v", err)
	}
	if err := os.MkdirAll(filepath.Join(wd, "pki"), 0o700); err != nil {
		fatalf("%v", err)
	}
	if *logPath != "-" {
		p := *logPath
		if p == "" {
			p = filepath.Join(wd, "apiserver.log")
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fatalf("open log: %v", err)
		}
		// Redirect the process's own stdout/stderr (klog, panics, runtime
		// errors) into the log file.
		if err := unix.Dup2(int(f.Fd()), 1); err != nil {
			fatalf("dup2: %v", err)
		}
		if err := unix.Dup2(int(f.Fd()), 2); err != nil {
			fatalf("dup2: %v", err)
		}
		f.Close()
	}
	logf("starting, workdir=%s pid=%d version=%s", wd, os.Getpid(), version.Get().GitVersion)

	p, err := choosePorts(wd, *port)
	if err != nil {
		fatalf("ports: %v", err)
	}
	logf("ports: apiserver=%d etcd-client=%d etcd-peer=%d", p.APIServer, p.EtcdClient, p.EtcdPeer)

	pki, err := ensurePKI(filepath.Join(wd, "pki"))
	if err != nil {
		fatalf("pki: %v", err)
	}

	serverURL := fmt.Sprintf("https://127.0.0.1:%d", p.APIServer)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", p.EtcdClient)
	if err := writeKubeconfig(filepath.Join(wd, "kubeconfig"), serverURL, pki); err != nil {
		fatalf("kubeconfig: %v", err)
	}
	env := fmt.Sprintf("KUBECONFIG=%s\nAPISERVER_URL=%s\nETCD_URL=%s\nCA_FILE=%s\nK8S_VERSION=%s\n",
		filepath.Join(wd, "kubeconfig"), serverURL, etcdURL, pki.caCert, version.Get().GitVersion)
	if err := writeFileAtomic(filepath.Join(wd, "apiserver.env"), []byte(env), 0o644); err != nil {
		fatalf("env: %v", err)
	}

	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.APIServer),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--service-account-key-file=" + pki.saPub,
		"--service-account-signing-key-file=" + pki.saKey,
		"--service-account-issuer=" + saIssuer,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=" + serviceCIDR,
		// The lease/master-count reconcilers refuse a loopback advertise
		// address; with "none" the default/kubernetes Service simply has no
		// endpoints (nothing here runs in a pod).
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(wd, "pki", "generated"), // unused: certs are given
		"--profiling=false",
		// Without these, SIGTERM with a watch open waits for the 60 s HTTP
		// shutdown timeout: keep serving (429 + Retry-After for new requests)
		// until in-flight requests drain, end watches within 2 s, then stop.
		"--shutdown-send-retry-after=true",
		"--shutdown-watch-termination-grace-period=2s",
	}
	args = append(args, flag.Args()...)

	// NewAPIServerCommand installs the SIGTERM/SIGINT handler: its context is
	// cancelled on the first signal (a second one exits at once).
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(args)
	ctx := cmd.Context()

	etcd, err := startEtcd(ctx, filepath.Join(wd, "etcd"), p, *etcdFsync, filepath.Join(wd, "etcd.log"))
	if err != nil {
		fatalf("etcd: %v", err)
	}
	etcdFailed := make(chan struct{})
	go func() {
		if err, ok := <-etcd.Err(); ok && err != nil {
			logf("etcd error: %v", err)
			close(etcdFailed)
		}
	}()

	logf("starting kube-apiserver %v", args)
	apiErr := make(chan error, 1)
	go func() { apiErr <- cmd.Execute() }()

	code := 0
	select {
	case err := <-apiErr:
		if ctx.Err() == nil {
			logf("kube-apiserver exited without a signal: %v", err)
			code = 1
		} else if err != nil {
			logf("kube-apiserver stopped with error: %v", err)
		} else {
			logf("kube-apiserver stopped")
		}
	case <-etcdFailed:
		code = 1
	}
	logf("closing etcd")
	done := make(chan struct{})
	go func() { etcd.Close(); close(done) }()
	select {
	case <-done:
		logf("etcd closed; bye")
	case <-time.After(30 * time.Second):
		logf("etcd did not close within 30s")
		code = 1
	}
	os.Exit(code)
}

// ---------------------------------------------------------------- ports

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// choosePorts takes the ports saved in workdir/ports.json when they are still
// free (so a restart keeps the same URLs), else fresh kernel-chosen ones.
func choosePorts(wd string, want int) (ports, error) {
	path := filepath.Join(wd, "ports.json")
	var saved ports
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &saved)
	}
	if want != 0 {
		saved.APIServer = want
	}
	var holders []net.Listener
	defer func() {
		for _, l := range holders {
			l.Close()
		}
	}()
	pick := func(p int, name string) (int, error) {
		if p != 0 {
			if portFree(p) {
				return p, nil
			}
			if name == "apiserver" && want != 0 {
				return 0, fmt.Errorf("requested port %d is in use", want)
			}
			logf("WARNING: saved %s port %d is in use; choosing another", name, p)
		}
		// Keep the listener open until all three are chosen so they differ.
		l, err := listenFreePort()
		if err != nil {
			return 0, err
		}
		holders = append(holders, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	var out ports
	var err error
	if out.APIServer, err = pick(saved.APIServer, "apiserver"); err != nil {
		return out, err
	}
	if out.EtcdClient, err = pick(saved.EtcdClient, "etcd client"); err != nil {
		return out, err
	}
	if out.EtcdPeer, err = pick(saved.EtcdPeer, "etcd peer"); err != nil {
		return out, err
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return out, writeFileAtomic(path, append(b, '\n'), 0o644)
}

// listenFreePort listens on a random free port below the kernel's ephemeral
// range, so that the port cannot be taken by an outgoing connection's source
// port (or a client's TCP self-connect) while the server is stopped for a
// restart. Falls back to a kernel-chosen port.
func listenFreePort() (net.Listener, error) {
	lo, hi := 20000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var eLo, eHi int
		if n, _ := fmt.Sscan(string(b), &eLo, &eHi); n == 2 && eLo > 1024 {
			if eLo > lo+1000 {
				hi = eLo
			} else {
				lo, hi = 0, 0 // unusual range: let the kernel choose
			}
		}
	}
	for i := 0; hi > lo && i < 200; i++ {
		p := lo + mrand.IntN(hi-lo)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// ---------------------------------------------------------------- etcd

func startEtcd(ctx context.Context, dir string, p ports, fsync bool, logFile string) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "imap-probe-test"
	cfg.Dir = dir
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.EtcdClient))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.EtcdPeer))}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.InitialClusterToken = "imap-probe-test"
	cfg.UnsafeNoFsync = !fsync
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{logFile}
	logf("starting etcd, data=%s client=%s peer=%s", dir, clientURL.String(), peerURL.String())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		logf("etcd ready")
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed while starting: %v", err)
	case <-ctx.Done():
		e.Close()
		return nil, errors.New("signalled while etcd was starting")
	case <-time.After(etcdStartWait):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcd not ready within %s", etcdStartWait)
	}
}

// ---------------------------------------------------------------- PKI

type pkiFiles struct {
	caCert, caKey           string
	servingCert, servingKey string
	adminCert, adminKey     string
	saKey, saPub            string
}

func ensurePKI(dir string) (pkiFiles, error) {
	f := pkiFiles{
		caCert: filepath.Join(dir, "ca.crt"), caKey: filepath.Join(dir, "ca.key"),
		servingCert: filepath.Join(dir, "apiserver.crt"), servingKey: filepath.Join(dir, "apiserver.key"),
		adminCert: filepath.Join(dir, "admin.crt"), adminKey: filepath.Join(dir, "admin.key"),
		saKey: filepath.Join(dir, "sa.key"), saPub: filepath.Join(dir, "sa.pub"),
	}
	exists := func(paths ...string) bool {
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				return false
			}
		}
		return true
	}

	var ca *x509.Certificate
	var caKey crypto.Signer
	if exists(f.caCert, f.caKey) {
		var err error
		if ca, caKey, err = loadPair(f.caCert, f.caKey); err != nil {
			return f, fmt.Errorf("load CA: %w", err)
		}
	} else {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return f, err
		}
		tmpl := &x509.Certificate{
			Subject:               pkix.Name{CommonName: "imap-probe-test-ca"},
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		}
		if ca, err = issue(tmpl, nil, key, key); err != nil {
			return f, err
		}
		caKey = key
		if err := savePair(f.caCert, f.caKey, ca, key); err != nil {
			return f, err
		}
		// A new CA invalidates any leaf signed by an older one.
		for _, p := range []string{f.servingCert, f.servingKey, f.adminCert, f.adminKey} {
			os.Remove(p)
		}
		logf("generated CA")
	}

	if !exists(f.servingCert, f.servingKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return f, err
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP(serviceIP)},
		}
		cert, err := issue(tmpl, ca, key, caKey)
		if err != nil {
			return f, err
		}
		if err := savePair(f.servingCert, f.servingKey, cert, key); err != nil {
			return f, err
		}
		logf("generated serving certificate")
	}

	if !exists(f.adminCert, f.adminKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return f, err
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: adminUser, Organization: []string{"system:masters"}},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		cert, err := issue(tmpl, ca, key, caKey)
		if err != nil {
			return f, err
		}
		if err := savePair(f.adminCert, f.adminKey, cert, key); err != nil {
			return f, err
		}
		logf("generated admin client certificate")
	}

	if !exists(f.saKey, f.saPub) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return f, err
		}
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return f, err
		}
		if err := writeFileAtomic(f.saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
			return f, err
		}
		if err := writeFileAtomic(f.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			return f, err
		}
		logf("generated service-account signing key")
	}
	return f, nil
}

func issue(tmpl, parent *x509.Certificate, key crypto.Signer, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(certValidity)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func savePair(certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, nil, errors.New("bad PEM")
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// ---------------------------------------------------------------- files

func writeKubeconfig(path, server string, f pkiFiles) error {
	ca, err := os.ReadFile(f.caCert)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(f.adminCert)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(f.adminKey)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: adminUser, Namespace: "default"}
	cfg.CurrentContext = "local"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
