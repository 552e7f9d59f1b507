package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/relay"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

func TestMergeFleet(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a, b, c := fleetTarget{name: "relay-a"}, fleetTarget{name: "relay-b"}, fleetTarget{name: "relay-c"}
	for _, tc := range []struct {
		name     string
		targets  []fleetTarget
		answers  []relay.FleetStatus
		errs     []error
		want     []string // node@relay:seq
		rev, seq int64
	}{
		{
			name:    "disjoint relays",
			targets: []fleetTarget{a, b},
			answers: []relay.FleetStatus{
				{Revision: 3, Seq: 10, Edges: []relay.EdgeStatus{{Node: "e1", ConnectedSince: t0, Seq: 10}}},
				{Revision: 3, Seq: 12, Edges: []relay.EdgeStatus{{Node: "e2", ConnectedSince: t0, Seq: 12}}},
			},
			errs: []error{nil, nil},
			want: []string{"e1@relay-a:10", "e2@relay-b:12"}, rev: 3, seq: 12,
		},
		{
			name:    "an edge that moved is shown once, on its newest connection",
			targets: []fleetTarget{a, b},
			answers: []relay.FleetStatus{
				{Revision: 3, Seq: 12, Edges: []relay.EdgeStatus{{Node: "e1", ConnectedSince: t0, Seq: 9}}},
				{Revision: 4, Seq: 12, Edges: []relay.EdgeStatus{{Node: "e1", ConnectedSince: t0.Add(time.Minute), Seq: 7}}},
			},
			errs: []error{nil, nil},
			want: []string{"e1@relay-b:7"}, rev: 4, seq: 12,
		},
		{
			name:    "the same connection time: the furthest position",
			targets: []fleetTarget{b, a},
			answers: []relay.FleetStatus{
				{Seq: 12, Edges: []relay.EdgeStatus{{Node: "e1", ConnectedSince: t0, Seq: 11}}},
				{Seq: 12, Edges: []relay.EdgeStatus{{Node: "e1", ConnectedSince: t0, Seq: 12}}},
			},
			errs: []error{nil, nil},
			want: []string{"e1@relay-a:12"}, seq: 12,
		},
		{
			name:    "edges not named yet stay apart; a relay that failed adds nothing",
			targets: []fleetTarget{a, b, c},
			answers: []relay.FleetStatus{
				{Seq: 5, Edges: []relay.EdgeStatus{{Stream: 1}, {Stream: 2}}},
				{Seq: 5, Edges: []relay.EdgeStatus{{Stream: 1}}},
				{},
			},
			errs: []error{nil, nil, errors.New("connection refused")},
			want: []string{"@relay-a:0", "@relay-a:0", "@relay-b:0"}, seq: 5,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := mergeFleet(tc.targets, tc.answers, tc.errs)
			var got []string
			for _, e := range v.Edges {
				got = append(got, e.Node+"@"+e.Relay+":"+strconv.FormatInt(e.Seq, 10))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") || v.Revision != tc.rev || v.Seq != tc.seq {
				t.Fatalf("edges %q revision %d seq %d; want %q %d %d", got, v.Revision, v.Seq, tc.want, tc.rev, tc.seq)
			}
			if len(v.Relays) != len(tc.targets) {
				t.Fatalf("relays %+v", v.Relays)
			}
			for i, r := range v.Relays {
				if (r.Error != "") != (tc.errs[i] != nil) {
					t.Fatalf("relay %s: error %q", r.Relay, r.Error)
				}
			}
		})
	}
}

// TestFleetOfSeveralRelays: two relays of one store, an edge on each;
// `fleet --relay A,B` lists both edges once with the relay each follows,
// and names a relay that does not answer while showing the others.
func TestFleetOfSeveralRelays(t *testing.T) {
	dsn := publishedStore(t)
	grpcA, httpA := startRelayCmd(t, dsn)
	grpcB, httpB := startRelayCmd(t, dsn)
	for node, addr := range map[string]string{"edge-on-a": grpcA, "edge-on-b": grpcB} {
		src, err := policysync.NewXDSSource("xds://"+addr, policysync.XDSOptions{NodeID: node, ReconnectBase: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
	}
	var v fleetView
	until(t, "both edges at revision 1", func() (bool, string) {
		code, out, errOut := run(t, "fleet", "--relay", httpA+","+httpB, "--json")
		if code != exitOK {
			return false, errOut
		}
		v = fleetView{}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("fleet --json: %v\n%s", err, out)
		}
		return len(v.Edges) == 2 && v.Edges[0].Revision == 1 && v.Edges[1].Revision == 1, out
	})
	if v.Edges[0].Node != "edge-on-a" || v.Edges[0].Relay != "http://"+httpA || v.Edges[1].Node != "edge-on-b" || v.Edges[1].Relay != "http://"+httpB || len(v.Relays) != 2 {
		t.Fatalf("merged fleet %+v", v)
	}
	code, out, _ := run(t, "fleet", "--relay", httpA, "--relay", httpB)
	if code != exitOK || strings.Count(out, "edge-on-") != 2 || strings.Count(out, "relay revision 1") != 2 || !strings.Contains(out, "RELAY") {
		t.Fatalf("fleet table: %d\n%s", code, out)
	}
	down := freeAddr(t)
	code, out, errOut := run(t, "fleet", "--relay", httpA, "--relay", down)
	if code != exitFail || !strings.Contains(out, "edge-on-a") || strings.Contains(out, "edge-on-b") || !strings.Contains(errOut, down) {
		t.Fatalf("fleet with a relay down: %d\n%s\n%s", code, out, errOut)
	}
}

// TestFleetAsksEveryAddressOfAName: a relay name that resolves to several
// addresses (a headless Service) is asked at each of them. Two relays
// listen on one port of 127.0.0.1 and ::1; the name resolves to both.
func TestFleetAsksEveryAddressOfAName(t *testing.T) {
	dsn := publishedStore(t)
	_, port, _ := net.SplitHostPort(freeAddr(t))
	l6, err := net.Listen("tcp", "[::1]:"+port)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l6.Close()
	grpcA, _ := startRelayCmd(t, dsn, "--http", "127.0.0.1:"+port)
	grpcB, _ := startRelayCmd(t, dsn, "--http", "[::1]:"+port)
	for node, addr := range map[string]string{"edge-on-v4": grpcA, "edge-on-v6": grpcB} {
		src, err := policysync.NewXDSSource("xds://"+addr, policysync.XDSOptions{NodeID: node, ReconnectBase: 10 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
	}
	noTLS := addClientTLSFlags(newFlags("fleet", io.Discard))
	lookup := func(_ context.Context, host string) ([]string, error) {
		if host != "relays.test" {
			return nil, fmt.Errorf("unexpected lookup of %q", host)
		}
		return []string{"::1", "127.0.0.1"}, nil
	}
	targets, err := fleetTargets(context.Background(), "relays.test:"+port, noTLS, lookup)
	if err != nil || len(targets) != 2 {
		t.Fatalf("targets %+v, %v; want one per address", targets, err)
	}
	until(t, "both relays' edges", func() (bool, string) {
		answers := make([]relay.FleetStatus, len(targets))
		errs := make([]error, len(targets))
		for i, tg := range targets {
			answers[i], errs[i] = fetchFleet(context.Background(), tg, nil)
		}
		v := mergeFleet(targets, answers, errs)
		var got []string
		for _, e := range v.Edges {
			got = append(got, e.Node+"@"+e.Relay)
		}
		want := []string{"edge-on-v4@http://relays.test:" + port + " (127.0.0.1:" + port + ")",
			"edge-on-v6@http://relays.test:" + port + " ([::1]:" + port + ")"}
		return slices.Equal(got, want), fmt.Sprintf("%q %+v", got, v.Relays)
	})
	// An address is one target; so is a name with one address.
	for _, raw := range []string{"127.0.0.1:" + port, "https://relay.example:18001"} {
		one := func(context.Context, string) ([]string, error) { return []string{"192.0.2.1"}, nil }
		if ts, err := fleetTargets(context.Background(), raw, noTLS, one); err != nil || len(ts) != 1 || ts[0].dial != "" {
			t.Errorf("%s: targets %+v, %v", raw, ts, err)
		}
	}
	if _, err := fleetTargets(context.Background(), "ftp://relay:1", noTLS, lookup); err == nil {
		t.Error("an ftp:// relay was accepted")
	}
}
