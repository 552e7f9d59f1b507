package deploy_test

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/imagebuild"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

const (
	chartDir    = "helm/edgeauthz"
	helmRelease = "edgeauthz"
	configPath  = "/etc/edgeauthz/config/config.yaml"
	// The oldest Kubernetes the chart supports (Chart.yaml kubeVersion): rendering and
	// linting against it catches an API or field newer clusters alone accept.
	kubeVersion = "1.30.0"
)

// helmBinary returns the helm executable: the pinned one `make tools` installs in bin/tools,
// else one on PATH. Without helm the test is skipped, or fails under CI=true.
func helmBinary(t testing.TB) string {
	t.Helper()
	if p, err := filepath.Abs(filepath.Join("..", "bin", "tools", "helm")); err == nil {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm not found: `make tools` installs the pinned version into bin/tools")
	}
	t.Skip("helm not found (make tools)")
	return ""
}

// helm runs the helm binary with its caches and config in a temporary folder.
func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(dir, "config"), "HELM_DATA_HOME="+filepath.Join(dir, "data"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func valuesArgs(values string) []string {
	if values == "" {
		return nil
	}
	return []string{"--values", filepath.Join(chartDir, "ci", values)}
}

// serviceMonitor is the part of the Prometheus operator's monitoring.coreos.com/v1
// ServiceMonitor the chart writes, with the CRD's field names: decoding is strict, so a
// misspelt or misplaced field fails here as the API server's schema validation would.
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string       `json:"port,omitempty"`
			TargetPort    string       `json:"targetPort,omitempty"`
			Path          string       `json:"path,omitempty"`
			Scheme        string       `json:"scheme,omitempty"`
			Interval      string       `json:"interval,omitempty"`
			ScrapeTimeout string       `json:"scrapeTimeout,omitempty"`
			TLSConfig     *smTLSConfig `json:"tlsConfig,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// smTLSConfig is the CRD's SafeTLSConfig: each file from a Secret or a ConfigMap key.
type smTLSConfig struct {
	CA                 *smSecretOrConfigMap      `json:"ca,omitempty"`
	Cert               *smSecretOrConfigMap      `json:"cert,omitempty"`
	KeySecret          *corev1.SecretKeySelector `json:"keySecret,omitempty"`
	ServerName         string                    `json:"serverName,omitempty"`
	InsecureSkipVerify bool                      `json:"insecureSkipVerify,omitempty"`
}

type smSecretOrConfigMap struct {
	Secret    *corev1.SecretKeySelector    `json:"secret,omitempty"`
	ConfigMap *corev1.ConfigMapKeySelector `json:"configMap,omitempty"`
}

// promDuration is the CRD's pattern for interval and scrapeTimeout.
var promDuration = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

// rendered is one `helm template`, every document decoded strictly into its type.
type rendered struct {
	values    string
	deploy    *appsv1.Deployment
	daemonSet *appsv1.DaemonSet
	svc       *corev1.Service
	sa        *corev1.ServiceAccount
	configs   map[string]*corev1.ConfigMap
	secrets   map[string]*corev1.Secret
	pdb       *policyv1.PodDisruptionBudget
	hpa       *autoscalingv2.HorizontalPodAutoscaler
	sm        *serviceMonitor
	metas     map[string]metav1.ObjectMeta // "Kind/name" → metadata
	pod       *corev1.PodTemplateSpec
	relay     renderedRelay // the objects labelled app.kubernetes.io/component=relay
}

type renderedRelay struct {
	deploy  *appsv1.Deployment
	svc     *corev1.Service
	pdb     *policyv1.PodDisruptionBudget
	sm      *serviceMonitor
	configs map[string]*corev1.ConfigMap
	metas   map[string]metav1.ObjectMeta
}

func renderChart(t *testing.T, values string) *rendered {
	t.Helper()
	args := append([]string{"template", helmRelease, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}, valuesArgs(values)...)
	out, stderr, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	r := &rendered{values: values, configs: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, metas: map[string]metav1.ObjectMeta{}}
	for i, doc := range yamlDocs([]byte(out)) {
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		where := fmt.Sprintf("%s document %d (%s/%s)", values, i, tm.APIVersion, tm.Kind)
		var om struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal(doc, &om); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if om.Metadata.Labels["app.kubernetes.io/component"] == "relay" {
			decodeRelayObject(t, where, tm, doc, &r.relay)
			continue
		}
		var meta *metav1.ObjectMeta
		switch tm.APIVersion + "/" + tm.Kind {
		case "apps/v1/Deployment":
			r.deploy = &appsv1.Deployment{}
			decodeStrict(t, where, doc, r.deploy)
			meta, r.pod = &r.deploy.ObjectMeta, &r.deploy.Spec.Template
		case "apps/v1/DaemonSet":
			r.daemonSet = &appsv1.DaemonSet{}
			decodeStrict(t, where, doc, r.daemonSet)
			meta, r.pod = &r.daemonSet.ObjectMeta, &r.daemonSet.Spec.Template
		case "v1/Service":
			r.svc = &corev1.Service{}
			decodeStrict(t, where, doc, r.svc)
			meta = &r.svc.ObjectMeta
		case "v1/ServiceAccount":
			r.sa = &corev1.ServiceAccount{}
			decodeStrict(t, where, doc, r.sa)
			meta = &r.sa.ObjectMeta
		case "v1/ConfigMap":
			var cm corev1.ConfigMap
			decodeStrict(t, where, doc, &cm)
			r.configs[cm.Name] = &cm
			meta = &cm.ObjectMeta
		case "v1/Secret":
			var sec corev1.Secret
			decodeStrict(t, where, doc, &sec)
			r.secrets[sec.Name] = &sec
			meta = &sec.ObjectMeta
		case "policy/v1/PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			decodeStrict(t, where, doc, r.pdb)
			meta = &r.pdb.ObjectMeta
		case "autoscaling/v2/HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			decodeStrict(t, where, doc, r.hpa)
			meta = &r.hpa.ObjectMeta
		case "monitoring.coreos.com/v1/ServiceMonitor":
			r.sm = &serviceMonitor{}
			decodeStrict(t, where, doc, r.sm)
			meta = &r.sm.Metadata
		default:
			t.Fatalf("%s: a kind this test does not know", where)
		}
		key := tm.Kind + "/" + meta.Name
		if _, dup := r.metas[key]; dup {
			t.Errorf("%s: %s rendered twice", values, key)
		}
		r.metas[key] = *meta
	}
	if r.pod == nil || r.svc == nil {
		t.Fatalf("%s: no workload or no Service rendered", values)
	}
	return r
}

func decodeRelayObject(t *testing.T, where string, tm metav1.TypeMeta, doc []byte, rr *renderedRelay) {
	t.Helper()
	if rr.metas == nil {
		rr.metas, rr.configs = map[string]metav1.ObjectMeta{}, map[string]*corev1.ConfigMap{}
	}
	var meta *metav1.ObjectMeta
	switch tm.APIVersion + "/" + tm.Kind {
	case "apps/v1/Deployment":
		rr.deploy = &appsv1.Deployment{}
		decodeStrict(t, where, doc, rr.deploy)
		meta = &rr.deploy.ObjectMeta
	case "v1/Service":
		rr.svc = &corev1.Service{}
		decodeStrict(t, where, doc, rr.svc)
		meta = &rr.svc.ObjectMeta
	case "policy/v1/PodDisruptionBudget":
		rr.pdb = &policyv1.PodDisruptionBudget{}
		decodeStrict(t, where, doc, rr.pdb)
		meta = &rr.pdb.ObjectMeta
	case "monitoring.coreos.com/v1/ServiceMonitor":
		rr.sm = &serviceMonitor{}
		decodeStrict(t, where, doc, rr.sm)
		meta = &rr.sm.Metadata
	case "v1/ConfigMap":
		var cm corev1.ConfigMap
		decodeStrict(t, where, doc, &cm)
		rr.configs[cm.Name] = &cm
		meta = &cm.ObjectMeta
	default:
		t.Fatalf("%s: a relay kind this test does not know", where)
	}
	key := tm.Kind + "/" + meta.Name
	if _, dup := rr.metas[key]; dup {
		t.Errorf("%s: %s rendered twice", where, key)
	}
	rr.metas[key] = *meta
}

// helmCase is one value set under helm/edgeauthz/ci and what it must render.
type helmCase struct {
	values                 string // "" for the chart's defaults
	kind                   string
	hpa, pdb, sm, persist  bool
	source                 string // file, http, postgres
	internalTrafficPolicy  corev1.ServiceInternalTrafficPolicy
	check                  func(t *testing.T, r *rendered, cfg *config.Server)
	wantEnv, wantNoEnvKeys []string
	// relay: this release runs relays; relayTLS: on their ports, mutual.
	relay, relayTLS bool
}

var helmCases = []helmCase{
	{values: "", kind: "Deployment", pdb: true, persist: true, source: "file"},
	{values: "daemonset-values.yaml", kind: "DaemonSet", persist: true, source: "file", internalTrafficPolicy: corev1.ServiceInternalTrafficPolicyLocal},
	{values: "autoscaling-values.yaml", kind: "Deployment", hpa: true, pdb: true, sm: true, persist: true, source: "file",
		check: func(t *testing.T, r *rendered, cfg *config.Server) {
			if len(cfg.Tokens.Issuers) != 1 || cfg.Tokens.Issuers[0].JWKSURL == "" {
				t.Errorf("config.yaml: issuers %+v, want the one from the values", cfg.Tokens.Issuers)
			}
		}},
	{values: "http-bundle-values.yaml", kind: "Deployment", pdb: true, persist: true, source: "http",
		wantEnv: []string{"SSL_CERT_FILE"}, wantNoEnvKeys: []string{"PGPASSWORD", "PGSSLROOTCERT"},
		check: func(t *testing.T, r *rendered, cfg *config.Server) {
			if cfg.Policy.SigningKey == "" || cfg.Policy.BearerTokenFile == "" {
				t.Errorf("config.yaml: signing_key %q, bearer_token_file %q: both are in the values", cfg.Policy.SigningKey, cfg.Policy.BearerTokenFile)
			}
			if cfg.Policy.MaxStaleness != 10*time.Minute {
				t.Errorf("config.yaml: max_staleness %v", cfg.Policy.MaxStaleness)
			}
		}},
	{values: "postgres-values.yaml", kind: "Deployment", pdb: true, persist: true, source: "postgres",
		wantEnv: []string{"PGPASSWORD", "SSL_CERT_FILE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"}},
	{values: "existing-policy-values.yaml", kind: "Deployment", pdb: true, source: "file", internalTrafficPolicy: corev1.ServiceInternalTrafficPolicyCluster},
	{values: "relay-values.yaml", kind: "Deployment", pdb: true, persist: true, source: "relay", relay: true},
	{values: "relay-mtls-values.yaml", kind: "DaemonSet", pdb: true, sm: true, persist: true, source: "relay", relay: true, relayTLS: true,
		internalTrafficPolicy: corev1.ServiceInternalTrafficPolicyLocal, wantNoEnvKeys: []string{"PGPASSWORD", "SSL_CERT_FILE"},
		check: func(t *testing.T, r *rendered, cfg *config.Server) {
			if len(cfg.Policy.TLS.AllowSPIFFEIDs) != 1 {
				t.Errorf("config.yaml: policy.tls pins no relay SPIFFE ID: %+v", cfg.Policy.TLS)
			}
		}},
	{values: "external-relay-values.yaml", kind: "Deployment", pdb: true, persist: true, source: "relay"},
}

// TestHelmLint: helm lint --strict passes with the defaults and every value set.
func TestHelmLint(t *testing.T) {
	for _, tc := range helmCases {
		name := tc.values
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir, "--namespace", namespace, "--kube-version", kubeVersion}, valuesArgs(tc.values)...)
			out, stderr, err := helm(t, args...)
			if err != nil || !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
			}
		})
	}
}

// TestHelmTemplate renders the chart for each value set, decodes every object strictly into
// its Kubernetes type, and loads the rendered config.yaml with edgeauthz's own loader.
func TestHelmTemplate(t *testing.T) {
	for _, tc := range helmCases {
		name := tc.values
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			r := renderChart(t, tc.values)
			checkHelmObjects(t, r, tc)
			ps := &r.pod.Spec
			checkPodSpec(t, name, ps, r.sa.Name)
			cfg := checkHelmConfig(t, r, tc)
			checkHelmEnv(t, r, tc)
			if tc.check != nil {
				tc.check(t, r, cfg)
			}
			checkHelmRelay(t, r, tc, cfg)
		})
	}
}

// checkHelmObjects: which objects exist, their names, namespaces, selectors and links.
func checkHelmObjects(t *testing.T, r *rendered, tc helmCase) {
	t.Helper()
	for key, m := range r.metas {
		if m.Namespace != namespace {
			t.Errorf("%s: namespace %q, want the release's %q", key, m.Namespace, namespace)
		}
		if m.Labels["app.kubernetes.io/component"] != "edge" || m.Labels["app.kubernetes.io/instance"] != helmRelease {
			t.Errorf("%s: labels %v lack the edge component and the release", key, m.Labels)
		}
	}
	if (r.deploy != nil) != (tc.kind == "Deployment") || (r.daemonSet != nil) != (tc.kind == "DaemonSet") {
		t.Fatalf("workload: deployment %v, daemonset %v, want a %s", r.deploy != nil, r.daemonSet != nil, tc.kind)
	}
	if (r.hpa != nil) != tc.hpa || (r.pdb != nil) != tc.pdb || (r.sm != nil) != tc.sm {
		t.Errorf("hpa %v pdb %v servicemonitor %v, want %v %v %v", r.hpa != nil, r.pdb != nil, r.sm != nil, tc.hpa, tc.pdb, tc.sm)
	}
	podLabels := r.pod.Labels
	selects := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	var workloadName string
	var sel *metav1.LabelSelector
	if r.deploy != nil {
		workloadName, sel = r.deploy.Name, r.deploy.Spec.Selector
		if tc.hpa != (r.deploy.Spec.Replicas == nil) {
			t.Errorf("deployment: replicas %v with HPA %v: the HPA alone owns the replica count", r.deploy.Spec.Replicas, tc.hpa)
		}
		if s := r.deploy.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 {
			t.Errorf("deployment: rollouts may take pods away before new ones are ready")
		}
	} else {
		workloadName, sel = r.daemonSet.Name, r.daemonSet.Spec.Selector
	}
	if workloadName != helmRelease {
		t.Errorf("workload name %q, want %q (the Istio and Envoy examples name that Service)", workloadName, helmRelease)
	}
	if sel == nil || !selects(sel.MatchLabels) {
		t.Errorf("workload selector does not select its pods")
	}
	if r.pod.Annotations["checksum/config"] == "" {
		t.Errorf("pod template has no checksum/config: a changed config.yaml would not restart the pods")
	}
	if want := imagebuild.Repository + ":" + makefileVar(t, "VERSION"); r.pod.Spec.Containers[0].Image != want {
		t.Errorf("image %q, want %q (what make image tags)", r.pod.Spec.Containers[0].Image, want)
	}

	// Service
	s := r.svc
	if s.Name != serviceName || !selects(s.Spec.Selector) {
		t.Errorf("service: name %q, selector %v does not select the pods", s.Name, s.Spec.Selector)
	}
	if got := deref(s.Spec.InternalTrafficPolicy); got != tc.internalTrafficPolicy {
		t.Errorf("service: internalTrafficPolicy %q, want %q", got, tc.internalTrafficPolicy)
	}
	containerPorts := map[string]int32{}
	for _, p := range r.pod.Spec.Containers[0].Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	if containerPorts["grpc"] != grpcPort || containerPorts["http"] != httpPort || len(containerPorts) != 2 {
		t.Errorf("container ports %v", containerPorts)
	}
	for _, p := range s.Spec.Ports {
		if p.TargetPort != intstr.FromString(p.Name) || containerPorts[p.Name] != p.Port || p.AppProtocol == nil || *p.AppProtocol != p.Name {
			t.Errorf("service port %+v does not match container port %s", p, p.Name)
		}
	}

	if r.pdb != nil && (r.pdb.Spec.Selector == nil || !selects(r.pdb.Spec.Selector.MatchLabels)) {
		t.Errorf("pdb: selector does not select the pods")
	}
	if r.hpa != nil {
		h := r.hpa.Spec
		if h.ScaleTargetRef.Kind != "Deployment" || h.ScaleTargetRef.Name != workloadName || h.ScaleTargetRef.APIVersion != "apps/v1" {
			t.Errorf("hpa: scaleTargetRef %+v is not the Deployment", h.ScaleTargetRef)
		}
		if h.MinReplicas == nil || *h.MinReplicas < 2 || h.MaxReplicas < *h.MinReplicas {
			t.Errorf("hpa: replicas %d..%d", deref(h.MinReplicas), h.MaxReplicas)
		}
		if r.pdb != nil && r.pdb.Spec.MinAvailable.IntValue() >= int(deref(h.MinReplicas)) {
			t.Errorf("pdb: minAvailable %v ≥ the HPA's minReplicas: drains would block", r.pdb.Spec.MinAvailable)
		}
		if len(h.Metrics) != 1 || h.Metrics[0].Resource == nil || h.Metrics[0].Resource.Name != corev1.ResourceCPU {
			t.Errorf("hpa: metrics %+v, want CPU", h.Metrics)
		}
	}
	if m := r.sm; m != nil {
		if m.APIVersion != "monitoring.coreos.com/v1" || m.Kind != "ServiceMonitor" {
			t.Errorf("servicemonitor: %s/%s", m.APIVersion, m.Kind)
		}
		for k, v := range m.Spec.Selector.MatchLabels {
			if s.Labels[k] != v {
				t.Errorf("servicemonitor: selector %v does not select the Service (labels %v)", m.Spec.Selector.MatchLabels, s.Labels)
			}
		}
		if len(m.Spec.Selector.MatchLabels) == 0 || !slices.Equal(m.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
			t.Errorf("servicemonitor: selects %v in %v", m.Spec.Selector.MatchLabels, m.Spec.NamespaceSelector.MatchNames)
		}
		if len(m.Spec.Endpoints) != 1 {
			t.Fatalf("servicemonitor: %d endpoints, want 1", len(m.Spec.Endpoints))
		}
		e := m.Spec.Endpoints[0]
		if e.Port != "http" || e.Path != "/metrics" || (e.Scheme != "" && e.Scheme != "http") {
			t.Errorf("servicemonitor: endpoint %+v, want port http, path /metrics", e)
		}
		iv, err1 := time.ParseDuration(e.Interval)
		st, err2 := time.ParseDuration(e.ScrapeTimeout)
		if !promDuration.MatchString(e.Interval) || !promDuration.MatchString(e.ScrapeTimeout) || err1 != nil || err2 != nil || st > iv {
			t.Errorf("servicemonitor: interval %q, scrapeTimeout %q: want Prometheus durations, timeout ≤ interval", e.Interval, e.ScrapeTimeout)
		}
		if m.Metadata.Labels["release"] != "prometheus" {
			t.Errorf("servicemonitor: labels %v lack the values' release=prometheus", m.Metadata.Labels)
		}
	}
}

// mountedFile finds which volume holds path and whether it provides the file: a ConfigMap
// rendered here must have the key; a Secret must list it in items or have no items (the
// Secret itself is the user's).
func mountedFile(t *testing.T, r *rendered, p string) (vol *corev1.Volume, ok bool) {
	t.Helper()
	c := r.pod.Spec.Containers[0]
	var best corev1.VolumeMount
	for _, vm := range c.VolumeMounts {
		if strings.HasPrefix(p, vm.MountPath+"/") && len(vm.MountPath) > len(best.MountPath) {
			best = vm
		}
	}
	if best.Name == "" {
		return nil, false
	}
	for i := range r.pod.Spec.Volumes {
		if r.pod.Spec.Volumes[i].Name == best.Name {
			vol = &r.pod.Spec.Volumes[i]
		}
	}
	if vol == nil {
		return nil, false
	}
	key := strings.TrimPrefix(p, best.MountPath+"/")
	switch {
	case vol.ConfigMap != nil:
		cm, rendered := r.configs[vol.ConfigMap.Name]
		if !rendered {
			return vol, !strings.Contains(key, "/") // the user's ConfigMap
		}
		_, has := cm.Data[key]
		return vol, has
	case vol.Secret != nil:
		if len(vol.Secret.Items) == 0 {
			return vol, !strings.Contains(key, "/")
		}
		for _, it := range vol.Secret.Items {
			if it.Path == key {
				return vol, true
			}
		}
	}
	return vol, false
}

// checkHelmConfig loads the rendered config.yaml as the container does and checks every
// file it names is mounted.
func checkHelmConfig(t *testing.T, r *rendered, tc helmCase) *config.Server {
	t.Helper()
	c := r.pod.Spec.Containers[0]
	if want := []string{"serve", "--config", configPath}; !slices.Equal(c.Args, want) {
		t.Fatalf("args %q, want %q", c.Args, want)
	}
	vol, ok := mountedFile(t, r, configPath)
	if !ok || vol.ConfigMap == nil {
		t.Fatalf("%s is not in a rendered ConfigMap", configPath)
	}
	for _, vm := range c.VolumeMounts {
		if vm.Name == vol.Name && (vm.SubPath != "" || !vm.ReadOnly) {
			t.Errorf("config mount must be read-only and without subPath")
		}
	}
	raw := r.configs[vol.ConfigMap.Name].Data[path.Base(configPath)]
	cfg, err := config.ParseServer(configPath, []byte(raw))
	if err != nil {
		t.Fatalf("rendered config.yaml refused by edgeauthz:\n%s\n%v", raw, err)
	}
	if _, err := config.IdentityConfig(cfg); err != nil {
		t.Errorf("config.yaml: tokens: %v", err)
	}
	if cfg.Listen.GRPC != fmt.Sprintf("0.0.0.0:%d", grpcPort) || cfg.Listen.HTTP != fmt.Sprintf("0.0.0.0:%d", httpPort) {
		t.Errorf("config.yaml: listen %+v, want 0.0.0.0 on the container ports", cfg.Listen)
	}
	if cfg.Listen.AuthzPrefix != "/authz" || cfg.Headers.Prefix != "x-auth-" {
		t.Errorf("config.yaml: authz_prefix %q, headers.prefix %q: the proxy configs expect /authz and x-auth-", cfg.Listen.AuthzPrefix, cfg.Headers.Prefix)
	}
	writable := func(dir string) bool {
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == dir && !vm.ReadOnly {
				return true
			}
		}
		return false
	}
	if (cfg.Policy.PersistDir != "") != tc.persist || (tc.persist && !writable(cfg.Policy.PersistDir)) {
		t.Errorf("config.yaml: persist_dir %q (want set: %v) must be a writable mount", cfg.Policy.PersistDir, tc.persist)
	}
	if tc.persist {
		// The persisted policy's key: a mounted Secret; the chart's own
		// holds a key edgeauthz accepts.
		vol, ok := mountedFile(t, r, cfg.Policy.PersistKeyFile)
		if !ok || vol.Secret == nil {
			t.Fatalf("config.yaml: persist_key_file %q is not in a mounted Secret", cfg.Policy.PersistKeyFile)
		}
		if sec, rendered := r.secrets[vol.Secret.SecretName]; rendered {
			f := filepath.Join(t.TempDir(), "persist.key")
			if err := os.WriteFile(f, sec.Data[path.Base(cfg.Policy.PersistKeyFile)], 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := policysync.ReadPersistKey(f); err != nil {
				t.Errorf("rendered persist key: %v", err)
			}
		}
	}
	switch o := cfg.DecisionLog.Output; o {
	case "stdout", "stderr", "off", "none":
	default:
		t.Errorf("config.yaml: decision_log.output %s: the root filesystem is read-only", o)
	}
	for key, f := range map[string]string{"policy.signing_key": cfg.Policy.SigningKey, "policy.bearer_token_file": cfg.Policy.BearerTokenFile} {
		if f == "" {
			continue
		}
		if _, ok := mountedFile(t, r, f); !ok {
			t.Errorf("config.yaml: %s %s is not mounted", key, f)
		}
	}
	for _, is := range cfg.Tokens.Issuers {
		if is.JWKSFile != "" || is.HMACSecretFile != "" {
			t.Errorf("config.yaml: issuer %q reads a key file the chart does not mount", is.Issuer)
		}
	}

	u, err := url.Parse(cfg.Policy.Source)
	if err != nil {
		t.Fatal(err)
	}
	switch tc.source {
	case "file":
		if u.Scheme != "file" {
			t.Fatalf("policy source %q, want file://", cfg.Policy.Source)
		}
		vol, ok := mountedFile(t, r, u.Path)
		if !ok || vol.ConfigMap == nil {
			t.Fatalf("policy %s is not in a mounted ConfigMap", u.Path)
		}
		if cm, ok := r.configs[vol.ConfigMap.Name]; ok {
			if cm.Name == r.configs[helmRelease+"-config"].Name {
				t.Errorf("the policy shares a ConfigMap with config.yaml: each policy edit would restart the pods")
			}
			doc, err := config.ParsePolicy(u.Path, []byte(cm.Data[path.Base(u.Path)]))
			if err == nil {
				_, err = decision.Compile(doc, decision.Options{})
			}
			if err != nil {
				t.Errorf("rendered policy: %v", err)
			}
		}
	case "http":
		if u.Scheme != "https" {
			t.Errorf("policy source %q, want the values' https URL", cfg.Policy.Source)
		}
		if cfg.Policy.SigningKey != "" {
			// The key as mounted must be one the edge accepts.
			cm := r.configs[helmRelease+"-config"]
			f := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(f, []byte(cm.Data[path.Base(cfg.Policy.SigningKey)]), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := policysync.ReadVerificationKeys(f); err != nil {
				t.Errorf("rendered signing key: %v", err)
			}
		}
	case "relay":
		if u.Scheme != "xds" {
			t.Errorf("policy source %q, want xds://", cfg.Policy.Source)
		}
		for key, f := range map[string]string{"ca_file": cfg.Policy.TLS.CAFile, "cert_file": cfg.Policy.TLS.CertFile, "key_file": cfg.Policy.TLS.KeyFile} {
			if vol, ok := mountedFile(t, r, f); f != "" && (!ok || vol.Secret == nil) {
				t.Errorf("config.yaml: policy.tls.%s %s is not in a mounted Secret", key, f)
			}
		}
		if tc.relayTLS != cfg.Policy.TLS.Enabled() {
			t.Errorf("config.yaml: policy.tls %+v, want set: %v (the relays' TLS)", cfg.Policy.TLS, tc.relayTLS)
		}
	case "postgres":
		if u.Scheme != "postgres" {
			t.Errorf("policy source %q, want postgres://", cfg.Policy.Source)
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			t.Errorf("policy source %q has a password in a ConfigMap", cfg.Policy.Source)
		}
	}
	return cfg
}

// checkHelmEnv: credentials come from Secrets by reference; TLS paths point at mounted files.
func checkHelmEnv(t *testing.T, r *rendered, tc helmCase) {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range r.pod.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	for _, k := range tc.wantEnv {
		e, ok := env[k]
		switch {
		case !ok:
			t.Errorf("env %s is not set", k)
		case k == "PGPASSWORD":
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" {
				t.Errorf("env PGPASSWORD %+v: want a secretKeyRef, never a value", e)
			}
		default:
			if _, ok := mountedFile(t, r, e.Value); !ok {
				t.Errorf("env %s=%s is not a mounted file", k, e.Value)
			}
		}
	}
	for _, k := range tc.wantNoEnvKeys {
		if _, ok := env[k]; ok {
			t.Errorf("env %s is set", k)
		}
	}
	for _, v := range r.pod.Spec.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0) {
			t.Errorf("volume %s: Secret readable by others (defaultMode %v)", v.Name, v.Secret.DefaultMode)
		}
	}
}

// checkPodSpec: the restricted Pod Security Standard, probes and resources, as for the
// plain manifests.
func checkPodSpec(t *testing.T, where string, ps *corev1.PodSpec, saName string) {
	t.Helper()
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", where, len(ps.Containers))
	}
	c := ps.Containers[0]
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s: %s probe %+v, want GET %s on port http", where, what, p, path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("startup", c.StartupProbe, "/healthz")
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("%s: no preStop sleep", where)
	}
	psc, sc := ps.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("%s: pod and container securityContext are required", where)
	}
	if !deref(psc.RunAsNonRoot) || !deref(sc.RunAsNonRoot) || deref(psc.RunAsUser) == 0 {
		t.Errorf("%s: not a non-root UID", where)
	}
	if uid := fmt.Sprintf("%d:%d", deref(psc.RunAsUser), deref(psc.RunAsGroup)); uid != imagebuild.User {
		t.Errorf("%s: runs as %s, the image's user is %s", where, uid, imagebuild.User)
	}
	if !deref(sc.ReadOnlyRootFilesystem) || deref(sc.AllowPrivilegeEscalation) || deref(sc.Privileged) {
		t.Errorf("%s: want a read-only root, no privilege escalation, not privileged", where)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("%s: capabilities %+v, want drop [ALL]", where, sc.Capabilities)
	}
	for what, s := range map[string]*corev1.SeccompProfile{"pod": psc.SeccompProfile, "container": sc.SeccompProfile} {
		if s == nil || s.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: %s seccompProfile is not RuntimeDefault", where, what)
		}
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted; edgeauthz does not use the API", where)
	}
	if ps.ServiceAccountName != saName {
		t.Errorf("%s: serviceAccountName %q, rendered %q", where, ps.ServiceAccountName, saName)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() || !lim.Cpu().IsZero() {
		t.Errorf("%s: resources %+v: want cpu and memory requests, a memory limit and no CPU limit", where, c.Resources)
	}
	tmp := false
	for _, vm := range c.VolumeMounts {
		tmp = tmp || (vm.MountPath == "/tmp" && !vm.ReadOnly)
		// A mount point inside a read-only ConfigMap or Secret volume cannot be created
		// on every runtime: keep the mounts side by side.
		for _, other := range c.VolumeMounts {
			if strings.HasPrefix(vm.MountPath, other.MountPath+"/") {
				t.Errorf("%s: %s is mounted inside %s", where, vm.MountPath, other.MountPath)
			}
		}
	}
	if !tmp {
		t.Errorf("%s: no writable /tmp", where)
	}
}

// TestHelmRefusesBadValues: values that cannot work fail at helm template, with a message
// that names the value, instead of producing pods that never turn ready.
func TestHelmRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"daemonset with hpa", []string{"edge.kind=DaemonSet", "edge.autoscaling.enabled=true"}, "cannot be autoscaled"},
		{"unknown kind", []string{"edge.kind=StatefulSet"}, "/edge/kind"},
		{"unknown value", []string{"edge.replicaz=3"}, "replicaz"},
		{"chart-owned config key", []string{"config.listen.http=:80"}, "listen"},
		{"http without url", []string{"policy.source=http"}, "policy.http.url"},
		{"postgres without dsn", []string{"policy.source=postgres"}, "policy.postgres.dsn"},
		{"password in the dsn", []string{"policy.source=postgres", "policy.postgres.dsn=postgres://u:secret@db/x"}, "holds a password"},
		{"password parameter in the dsn", []string{"policy.source=postgres", "policy.postgres.dsn=postgres://u@db/x?password=secret"}, "holds a password"},
		{"pdb blocks drains", []string{"edge.replicas=1"}, "minAvailable"},
		{"tls key without secret", []string{"tls.caKey=ca.crt"}, "tls.secretName"},
		{"client cert without key", []string{"tls.secretName=x", "tls.clientCertKey=tls.crt"}, "together"},
		{"bad duration", []string{"policy.pollInterval=5 seconds"}, "pollInterval"},
		{"relay without a store", []string{"relay.enabled=true"}, "relay.store.dsn"},
		{"relay DSN with a password", []string{"relay.enabled=true", "relay.store.dsn=postgres://u:secret@db/x"}, "holds a password"},
		{"edges follow no relay", []string{"policy.source=relay"}, "relay.enabled=true"},
		{"relay address not xds", []string{"policy.source=relay", "policy.relay.address=http://relay:18000"}, "policy.relay.address"},
		{"relay TLS, edges without a certificate", []string{"relay.enabled=true", "relay.store.dsn=postgres://edgeauthz@db/edgeauthz", "policy.source=relay", "relay.tls.secretName=relay-tls"}, "policy.relay.tls.secretName"},
		{"relay pdb blocks drains", []string{"relay.enabled=true", "relay.store.dsn=postgres://edgeauthz@db/edgeauthz", "relay.pdb.minAvailable=2"}, "relay.pdb.minAvailable"},
		{"relay allow-list without TLS", []string{"relay.enabled=true", "relay.store.dsn=postgres://edgeauthz@db/edgeauthz", "relay.tls.allowSpiffeIds={spiffe://td/x}"}, "need relay.tls.secretName"},
		{"relay allow-list entry not SPIFFE", []string{"relay.enabled=true", "relay.store.dsn=postgres://edgeauthz@db/edgeauthz", "relay.tls.secretName=t", "relay.tls.allowSpiffeIds={td/x}"}, "is not a SPIFFE ID"},
		{"relay scrape over TLS without tlsConfig", []string{"relay.enabled=true", "relay.store.dsn=postgres://edgeauthz@db/edgeauthz", "relay.tls.secretName=t", "metrics.serviceMonitor.enabled=true"}, "relay.serviceMonitor.tlsConfig"},
		{"relay writers by certificate without TLS", []string{"relay.enabled=true", "relay.store.dsn=postgres://edgeauthz@db/edgeauthz", "relay.write.clientCASecret.name=w"}, "need relay.tls.secretName"},
		{"relay write issuer without keys", []string{"relay.enabled=true", "relay.store.dsn=postgres://edgeauthz@db/edgeauthz", "relay.write.issuer=https://ci"}, "issuer and jwks together"},
		{"unknown relay value", []string{"relay.replicaz=3"}, "replicaz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", helmRelease, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, stderr, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v rendered:\n%s", tc.set, out)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("helm template %v: %q does not mention %q", tc.set, stderr, tc.want)
			}
		})
	}
}

// makefileVar reads `NAME ?= value` from the repository's Makefile.
func makefileVar(t testing.TB, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` \?= *(\S+)$`).FindSubmatch(readFile(t, "../Makefile"))
	if m == nil {
		t.Fatalf("Makefile: no %s ?= …", name)
	}
	return string(m[1])
}

// TestImageName: the image make image tags is the one the manifests and the chart run.
func TestImageName(t *testing.T) {
	version := makefileVar(t, "VERSION")
	want := imagebuild.Repository + ":" + version

	var d appsv1.Deployment
	decodeStrict(t, "kubernetes/deployment.yaml", singleDoc(t, "kubernetes/deployment.yaml"), &d)
	if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("kubernetes/deployment.yaml: image %q, want %q", got, want)
	}
	var k kustomization
	decodeStrict(t, "kubernetes/kustomization.yaml", singleDoc(t, "kubernetes/kustomization.yaml"), &k)
	if len(k.Images) != 1 || k.Images[0].Name != imagebuild.Repository || k.Images[0].NewTag != version {
		t.Errorf("kubernetes/kustomization.yaml: images %+v, want %s tag %s", k.Images, imagebuild.Repository, version)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := sigsyaml.Unmarshal(readFile(t, chartDir+"/Chart.yaml"), &chart); err != nil || chart.AppVersion != version {
		t.Errorf("Chart.yaml: appVersion %q (%v), want %s", chart.AppVersion, err, version)
	}
	var values struct {
		Image struct {
			Repository string `json:"repository"`
		} `json:"image"`
	}
	if err := sigsyaml.Unmarshal(readFile(t, chartDir+"/values.yaml"), &values); err != nil || values.Image.Repository != imagebuild.Repository {
		t.Errorf("values.yaml: image.repository %q (%v), want %s", values.Image.Repository, err, imagebuild.Repository)
	}
}
