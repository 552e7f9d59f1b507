package deploy_test

import (
	"path/filepath"
	"slices"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestRelayManifests decodes the relay's manifests strictly and checks that
// they fit together: two replicas, a Service and a PDB that select them, the
// ports the relay command listens on, and a DSN from a Secret.
func TestRelayManifests(t *testing.T) {
	const dir = "kubernetes/relay/"
	var kust struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Namespace  string `json:"namespace"`
		Resources  []string
		Images     []struct {
			Name   string `json:"name"`
			NewTag string `json:"newTag"`
		} `json:"images"`
	}
	decodeStrict(t, dir+"kustomization.yaml", singleDoc(t, dir+"kustomization.yaml"), &kust)
	var deploy appsv1.Deployment
	var svc corev1.Service
	var pdb policyv1.PodDisruptionBudget
	decodeStrict(t, dir+"deployment.yaml", singleDoc(t, dir+"deployment.yaml"), &deploy)
	decodeStrict(t, dir+"service.yaml", singleDoc(t, dir+"service.yaml"), &svc)
	decodeStrict(t, dir+"pdb.yaml", singleDoc(t, dir+"pdb.yaml"), &pdb)

	files, err := filepath.Glob(dir + "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	listed := slices.Clone(kust.Resources)
	sort.Strings(onDisk)
	sort.Strings(listed)
	if !slices.Equal(onDisk, listed) || kust.Namespace != namespace {
		t.Errorf("kustomization: resources %v (files %v), namespace %q", listed, onDisk, kust.Namespace)
	}
	for _, m := range []struct {
		file, ns, kind string
	}{
		{"deployment.yaml", deploy.Namespace, deploy.APIVersion + "/" + deploy.Kind},
		{"service.yaml", svc.Namespace, svc.APIVersion + "/" + svc.Kind},
		{"pdb.yaml", pdb.Namespace, pdb.APIVersion + "/" + pdb.Kind},
	} {
		if m.ns != namespace {
			t.Errorf("%s: namespace %q, want %q", m.file, m.ns, namespace)
		}
		want := map[string]string{"deployment.yaml": "apps/v1/Deployment", "service.yaml": "v1/Service", "pdb.yaml": "policy/v1/PodDisruptionBudget"}[m.file]
		if m.kind != want {
			t.Errorf("%s: %s, want %s", m.file, m.kind, want)
		}
	}

	if deploy.Spec.Replicas == nil || *deploy.Spec.Replicas < 2 {
		t.Errorf("deployment: replicas %v, want at least 2 (edges fail over between relays)", deploy.Spec.Replicas)
	}
	labels := deploy.Spec.Template.Labels
	for name, sel := range map[string]map[string]string{
		"deployment selector": deploy.Spec.Selector.MatchLabels,
		"service selector":    svc.Spec.Selector,
		"pdb selector":        pdb.Spec.Selector.MatchLabels,
	} {
		if len(sel) == 0 {
			t.Errorf("%s is empty", name)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s %s=%s does not select the relay pods %v", name, k, v, labels)
			}
		}
	}
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
		t.Errorf("pdb: minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}

	_, ports := checkRelayDeployment(t, "kubernetes/relay/deployment.yaml", &deploy)
	c := deploy.Spec.Template.Spec.Containers
	if len(kust.Images) != 1 || c[0].Image != kust.Images[0].Name+":"+kust.Images[0].NewTag {
		t.Errorf("image %q, kustomization images %+v", c[0].Image, kust.Images)
	}
	dsnFromSecret := false
	for _, e := range c[0].Env {
		if e.Name == "EDGEAUTHZ_STORE" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			dsnFromSecret = true
		}
	}
	if !dsnFromSecret {
		t.Error("EDGEAUTHZ_STORE must come from a Secret: the DSN holds a password")
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("service port %s targets %s, not a container port", p.Name, p.TargetPort.String())
		}
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("service: clusterIP %q, want None (edges resolve every relay)", svc.Spec.ClusterIP)
	}
}
