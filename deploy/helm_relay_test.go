package deploy_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/internal/imagebuild"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// relayFlags reads the flags `edgeauthz relay` defines from its source (runRelay and the
// listener TLS flags), so that a manifest naming a flag the command lacks fails here rather
// than in a crash-looping pod.
func relayFlags(t testing.TB) map[string]bool {
	t.Helper()
	flags := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range []string{"relay.go", "tlsflags.go"} {
		file, err := parser.ParseFile(fset, filepath.Join("..", "cmd", "edgeauthz", f), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || (fn.Name.Name != "runRelay" && fn.Name.Name != "addListenerTLSFlags") {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, isIdent := sel.X.(*ast.Ident); !isIdent || x.Name != "fs" {
					return true
				}
				arg := 0
				if sel.Sel.Name == "Var" {
					arg = 1
				}
				if len(call.Args) > arg {
					if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						name, _ := strconv.Unquote(lit.Value)
						flags[name] = true
					}
				}
				return true
			})
		}
	}
	for _, want := range []string{"store", "listen", "http", "health", "tls-cert-file", "tls-allow-spiffe-id", "write-client-ca"} {
		if !flags[want] {
			t.Fatalf("relay flags %v lack --%s: the source reader is out of date", flags, want)
		}
	}
	return flags
}

// relayArgs splits the relay container's args into flag → values, refusing flags the
// command does not define and positional arguments.
func relayArgs(t *testing.T, where string, args []string) map[string][]string {
	t.Helper()
	known := relayFlags(t)
	if len(args) == 0 || args[0] != "relay" {
		t.Fatalf("%s: args %q, want the relay command", where, args)
	}
	out := map[string][]string{}
	for i := 1; i < len(args); i += 2 {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok || !known[name] || i+1 >= len(args) {
			t.Fatalf("%s: args %q: %q is not a flag of edgeauthz relay with a value", where, args, args[i])
		}
		out[name] = append(out[name], args[i+1])
	}
	return out
}

// checkRelayDeployment holds a relay Deployment to what both the plain manifests and the chart
// promise: at least two replicas, rollouts that keep them, the restricted Pod Security
// Standard, the ports the command listens on, and probes on a port kubelet can reach
// without a client certificate. It returns the args and the container ports.
func checkRelayDeployment(t *testing.T, where string, d *appsv1.Deployment) (map[string][]string, map[string]int32) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("%s: replicas %v, want at least 2 (edges fail over between relays)", where, d.Spec.Replicas)
	}
	if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 {
		t.Errorf("%s: rollouts may take relays away before new ones are ready", where)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("%s: selector does not select its pods", where)
		}
	}
	ps := d.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: %d containers", where, len(ps.Containers))
	}
	c := ps.Containers[0]
	args := relayArgs(t, where, c.Args)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for flag, port := range map[string]string{"listen": "xds", "http": "http", "health": "health"} {
		a := args[flag]
		if len(a) != 1 {
			t.Errorf("%s: --%s %q, want one address", where, flag, a)
			continue
		}
		host, p, err := net.SplitHostPort(a[0])
		if err != nil || host != "0.0.0.0" || p != strconv.Itoa(int(ports[port])) {
			t.Errorf("%s: --%s %s does not listen on all interfaces at container port %s (%d)", where, flag, a[0], port, ports[port])
		}
	}
	if len(ports) != 3 {
		t.Errorf("%s: container ports %v, want xds, http and health", where, ports)
	}
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe}
	for what, p := range probes {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port != intstr.FromString("health") || p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			t.Errorf("%s: %s probe %+v, want GET /healthz on the plain health port (ready once the store is loaded)", where, what, p)
		}
	}
	if p := c.LivenessProbe; p != nil && ((p.HTTPGet != nil && p.HTTPGet.Port != intstr.FromString("health")) || (p.TCPSocket != nil && p.TCPSocket.Port != intstr.FromString("health"))) {
		t.Errorf("%s: liveness probe %+v is not on the health port", where, p)
	}
	psc, sc := ps.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("%s: pod and container securityContext are required", where)
	}
	if !deref(psc.RunAsNonRoot) || !deref(sc.RunAsNonRoot) || fmt.Sprintf("%d:%d", deref(psc.RunAsUser), deref(psc.RunAsGroup)) != imagebuild.User {
		t.Errorf("%s: not the image's non-root user %s", where, imagebuild.User)
	}
	if !deref(sc.ReadOnlyRootFilesystem) || deref(sc.AllowPrivilegeEscalation) || deref(sc.Privileged) ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s: want a read-only root, no privilege escalation, drop [ALL]", where)
	}
	for what, s := range map[string]*corev1.SeccompProfile{"pod": psc.SeccompProfile, "container": sc.SeccompProfile} {
		if s == nil || s.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: %s seccompProfile is not RuntimeDefault", where, what)
		}
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted; the relay does not use the API", where)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() || !lim.Cpu().IsZero() {
		t.Errorf("%s: resources %+v: want cpu and memory requests, a memory limit and no CPU limit", where, c.Resources)
	}
	return args, ports
}

// relayMounted reports whether file p is provided by a volume of the relay pod: a key of a
// rendered ConfigMap, or an item (or any key) of a Secret.
func relayMounted(d *appsv1.Deployment, configs map[string]*corev1.ConfigMap, p string) (*corev1.Volume, bool) {
	ps := d.Spec.Template.Spec
	var best corev1.VolumeMount
	for _, vm := range ps.Containers[0].VolumeMounts {
		if strings.HasPrefix(p, vm.MountPath+"/") && len(vm.MountPath) > len(best.MountPath) {
			best = vm
		}
	}
	for i := range ps.Volumes {
		v := &ps.Volumes[i]
		if best.Name == "" || v.Name != best.Name {
			continue
		}
		key := strings.TrimPrefix(p, best.MountPath+"/")
		switch {
		case v.ConfigMap != nil:
			_, ok := configs[v.ConfigMap.Name].Data[key]
			return v, ok
		case v.Secret != nil:
			if len(v.Secret.Items) == 0 {
				return v, !strings.Contains(key, "/")
			}
			for _, it := range v.Secret.Items {
				if it.Path == key {
					return v, true
				}
			}
		}
		return v, false
	}
	return nil, false
}

// checkHelmRelay: the relay's objects exist exactly when the values enable it, fit together,
// and the edges follow them.
func checkHelmRelay(t *testing.T, r *rendered, tc helmCase, cfg *config.Server) {
	t.Helper()
	rr := r.relay
	if !tc.relay {
		if len(rr.metas) != 0 {
			t.Fatalf("relay objects rendered without relay.enabled: %v", rr.metas)
		}
		return
	}
	if rr.deploy == nil || rr.svc == nil || rr.pdb == nil {
		t.Fatalf("relay: deployment %v, service %v, pdb %v: want all three", rr.deploy != nil, rr.svc != nil, rr.pdb != nil)
	}
	for key, m := range rr.metas {
		if m.Namespace != namespace || m.Labels["app.kubernetes.io/instance"] != helmRelease || m.Labels["app.kubernetes.io/component"] != "relay" {
			t.Errorf("%s: namespace %q labels %v", key, m.Namespace, m.Labels)
		}
	}
	d := rr.deploy
	args, ports := checkRelayDeployment(t, "relay deployment", d)
	pod := d.Spec.Template
	if want := imagebuild.Repository + ":" + makefileVar(t, "VERSION"); pod.Spec.Containers[0].Image != want {
		t.Errorf("relay image %q, want %q", pod.Spec.Containers[0].Image, want)
	}
	for k, v := range rr.svc.Spec.Selector {
		if pod.Labels[k] != v || len(rr.svc.Spec.Selector) == 0 {
			t.Errorf("relay service selector %v does not select the relay pods", rr.svc.Spec.Selector)
		}
	}
	for k, v := range r.pod.Labels {
		if k == "app.kubernetes.io/component" && pod.Labels[k] == v {
			t.Errorf("relay pods carry the edge's component label: the edge Service would send Checks to relays")
		}
	}
	if rr.svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("relay service: clusterIP %q, want None (edges resolve every relay)", rr.svc.Spec.ClusterIP)
	}
	svcPorts := map[string]int32{}
	for _, p := range rr.svc.Spec.Ports {
		svcPorts[p.Name] = p.Port
		if p.TargetPort != intstr.FromString(p.Name) || ports[p.Name] == 0 {
			t.Errorf("relay service port %+v targets no container port", p)
		}
	}
	if _, ok := svcPorts["health"]; ok || len(svcPorts) != 2 {
		t.Errorf("relay service ports %v, want xds and http (the probe port stays in the pod)", svcPorts)
	}
	if m := rr.pdb.Spec; m.Selector == nil || m.MinAvailable == nil || m.MinAvailable.IntValue() >= int(*d.Spec.Replicas) {
		t.Errorf("relay pdb %+v: must select the relays and leave one to drain", m)
	} else {
		for k, v := range m.Selector.MatchLabels {
			if pod.Labels[k] != v {
				t.Errorf("relay pdb selector does not select the relay pods")
			}
		}
	}

	// The store: a DSN without a password in the env, the password from a Secret.
	env := map[string]corev1.EnvVar{}
	for _, e := range pod.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	dsn, err := url.Parse(env["EDGEAUTHZ_STORE"].Value)
	if err != nil || dsn.Scheme != "postgres" {
		t.Errorf("relay EDGEAUTHZ_STORE %+v, want a postgres:// DSN", env["EDGEAUTHZ_STORE"])
	} else if _, has := dsn.User.Password(); has || dsn.Query().Has("password") {
		t.Errorf("relay DSN %s holds a password", dsn)
	}
	if e, ok := env["PGPASSWORD"]; ok && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
		t.Errorf("relay PGPASSWORD %+v: want a secretKeyRef", e)
	}
	for _, k := range []string{"PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"} {
		if e, ok := env[k]; ok {
			if _, mounted := relayMounted(d, rr.configs, e.Value); !mounted {
				t.Errorf("relay env %s=%s is not a mounted file", k, e.Value)
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0) {
			t.Errorf("relay volume %s: Secret readable by others", v.Name)
		}
	}

	// TLS: the files the flags name are mounted from a Secret; mutual TLS pins callers.
	for _, f := range []string{"tls-cert-file", "tls-key-file", "tls-ca-file", "write-client-ca"} {
		for _, p := range args[f] {
			if v, ok := relayMounted(d, rr.configs, p); !ok || v.Secret == nil {
				t.Errorf("relay --%s %s is not in a mounted Secret", f, p)
			}
		}
	}
	if got := len(args["tls-cert-file"]) == 1 && len(args["tls-ca-file"]) == 1; got != tc.relayTLS {
		t.Errorf("relay TLS args %v, want mutual TLS: %v", args, tc.relayTLS)
	}
	for _, jwks := range args["write-jwks"] {
		v, ok := relayMounted(d, rr.configs, jwks)
		if !ok || v.ConfigMap == nil {
			t.Fatalf("relay --write-jwks %s is not in a rendered ConfigMap", jwks)
		}
		f := filepath.Join(t.TempDir(), "jwks.json")
		if err := os.WriteFile(f, []byte(rr.configs[v.ConfigMap.Name].Data[path.Base(jwks)]), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := policysync.ReadVerificationKeys(f); err != nil {
			t.Errorf("relay --write-jwks: the rendered JWKS: %v", err)
		}
	}

	// The edges follow this release's relays by the Service's name.
	want := fmt.Sprintf("xds://%s.%s.svc:%d", rr.svc.Name, namespace, svcPorts["xds"])
	if cfg.Policy.Source != want {
		t.Errorf("edge policy.source %q, want %q", cfg.Policy.Source, want)
	}
	if _, err := policysync.Open(cfg.Policy.Source, policysync.Options{}); err != nil {
		t.Errorf("edge policy.source: %v", err)
	}

	if (rr.sm != nil) != tc.sm {
		t.Errorf("relay servicemonitor %v, want %v", rr.sm != nil, tc.sm)
	}
	if m := rr.sm; m != nil {
		for k, v := range m.Spec.Selector.MatchLabels {
			if rr.svc.Labels[k] != v {
				t.Errorf("relay servicemonitor selector %v does not select the relay Service", m.Spec.Selector.MatchLabels)
			}
		}
		if len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != "http" || m.Spec.Endpoints[0].Path != "/metrics" {
			t.Fatalf("relay servicemonitor endpoints %+v", m.Spec.Endpoints)
		}
		e := m.Spec.Endpoints[0]
		if tc.relayTLS && (e.Scheme != "https" || e.TLSConfig == nil || e.TLSConfig.CA == nil || e.TLSConfig.Cert == nil || e.TLSConfig.KeySecret == nil) {
			t.Errorf("relay servicemonitor endpoint %+v: mutual TLS needs https with a CA and a client certificate", e)
		}
	}
}
