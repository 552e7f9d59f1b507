package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"text/tabwriter"
	"time"

	"github.com/edgeauthz/edgeauthz/relay"
)

// fleetView is the fleet status of one or several relays, merged: the
// shape of a relay's GET /fleet, each edge naming the relay it is
// connected to, plus what each relay answered.
type fleetView struct {
	Revision int64       `json:"revision"` // the newest among the relays
	Seq      int64       `json:"seq"`
	Edges    []fleetEdge `json:"edges"`
	Relays   []relayView `json:"relays"`
}

type fleetEdge struct {
	relay.EdgeStatus
	Relay string `json:"relay"`
}

type relayView struct {
	Relay    string `json:"relay"`
	Revision int64  `json:"revision,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	Edges    int    `json:"edges"`
	Error    string `json:"error,omitempty"`
}

// fleetTarget is one relay to ask: its URL, and the address to dial when a
// DNS name stands for several relays.
type fleetTarget struct {
	url, name, dial string
}

// runFleet prints the fleet status of one or several relays as a table.
func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fleet", stderr)
	var relays stringsFlag
	fs.Var(&relays, "relay", "a relay's HTTP address, repeatable or comma-separated; a DNS name with several addresses asks each (default http://127.0.0.1:18001)")
	asJSON := fs.Bool("json", false, "print the merged status as JSON instead of a table")
	tf := addClientTLSFlags(fs)
	if pos, err := parseArgs(fs, args); err != nil || len(pos) > 0 {
		return exitUsage
	}
	tlsConf, err := tf.config()
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz fleet:", err)
		return exitUsage
	}
	if len(relays) == 0 {
		relays = stringsFlag{"http://127.0.0.1:18001"}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var targets []fleetTarget
	for _, list := range relays {
		for r := range strings.SplitSeq(list, ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			t, err := fleetTargets(ctx, r, tf, net.DefaultResolver.LookupHost)
			if err != nil {
				fmt.Fprintln(stderr, "edgeauthz fleet:", err)
				return exitUsage
			}
			targets = append(targets, t...)
		}
	}
	answers := make([]relay.FleetStatus, len(targets))
	errs := make([]error, len(targets))
	var wg gosync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { answers[i], errs[i] = fetchFleet(ctx, t, tlsConf) })
	}
	wg.Wait()
	view := mergeFleet(targets, answers, errs)
	failed := false
	for _, r := range view.Relays {
		if r.Error != "" {
			failed = true
			fmt.Fprintf(stderr, "edgeauthz fleet: %s: %s\n", r.Relay, r.Error)
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(view, "", "  ")
		stdout.Write(append(b, '\n'))
	} else {
		printFleet(stdout, view)
	}
	if failed {
		return exitFail
	}
	return exitOK
}

// fleetTargets expands a relay's address: a DNS name that resolves to
// several addresses (a headless Service) is one target per address, each
// still verified under the name.
func fleetTargets(ctx context.Context, raw string, tf *clientTLSFlags, lookup func(context.Context, string) ([]string, error)) ([]fleetTarget, error) {
	u := strings.TrimSuffix(raw, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if err := tf.checkURL(u); err != nil {
		return nil, err
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
		return nil, fmt.Errorf("--relay %q: want http(s)://host:port", raw)
	}
	host, port := pu.Hostname(), pu.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[pu.Scheme]
	}
	one := []fleetTarget{{url: u, name: u}}
	if net.ParseIP(host) != nil {
		return one, nil
	}
	addrs, err := lookup(ctx, host)
	if err != nil || len(addrs) < 2 {
		return one, nil // the request names the failure, if any
	}
	slices.Sort(addrs)
	out := make([]fleetTarget, len(addrs))
	for i, a := range addrs {
		d := net.JoinHostPort(a, port)
		out[i] = fleetTarget{url: u, name: u + " (" + d + ")", dial: d}
	}
	return out, nil
}

func fetchFleet(ctx context.Context, t fleetTarget, tlsConf *tls.Config) (relay.FleetStatus, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	if t.dial != "" {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, t.dial)
		}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/fleet", nil)
	if err != nil {
		return relay.FleetStatus{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return relay.FleetStatus{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return relay.FleetStatus{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return relay.FleetStatus{}, errors.New(resp.Status)
	}
	var st relay.FleetStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return relay.FleetStatus{}, fmt.Errorf("the relay's answer: %w", err)
	}
	return st, nil
}

// mergeFleet lists every edge once. An edge seen by several relays (it
// moved, and the relay it left has not noticed yet) is shown with its most
// recent connection, and among equals the furthest changelog position.
func mergeFleet(targets []fleetTarget, answers []relay.FleetStatus, errs []error) fleetView {
	var v fleetView
	byNode := map[string]int{}
	for i, t := range targets {
		rv := relayView{Relay: t.name}
		if errs[i] != nil {
			rv.Error = errs[i].Error()
			v.Relays = append(v.Relays, rv)
			continue
		}
		st := answers[i]
		rv.Revision, rv.Seq, rv.Edges = st.Revision, st.Seq, len(st.Edges)
		v.Relays = append(v.Relays, rv)
		v.Revision, v.Seq = max(v.Revision, st.Revision), max(v.Seq, st.Seq)
		for _, e := range st.Edges {
			fe := fleetEdge{EdgeStatus: e, Relay: t.name}
			key := e.Node
			if key == "" { // not named yet: one per stream
				key = fmt.Sprintf("\x00%s/%d", t.name, e.Stream)
			}
			j, seen := byNode[key]
			if !seen {
				byNode[key] = len(v.Edges)
				v.Edges = append(v.Edges, fe)
				continue
			}
			old := v.Edges[j]
			if c := e.ConnectedSince.Compare(old.ConnectedSince); c > 0 || (c == 0 && e.Seq > old.Seq) {
				v.Edges[j] = fe
			}
		}
	}
	if v.Edges == nil {
		v.Edges = []fleetEdge{}
	}
	slices.SortStableFunc(v.Edges, func(a, b fleetEdge) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Relay, b.Relay))
	})
	return v
}

func printFleet(w io.Writer, v fleetView) {
	for _, r := range v.Relays {
		if r.Error == "" {
			fmt.Fprintf(w, "relay revision %d, changelog seq %d, %d edges (%s)\n", r.Revision, r.Seq, r.Edges, r.Relay)
		} else {
			fmt.Fprintf(w, "relay unreachable (%s): %s\n", r.Relay, oneLine(r.Error))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREVISION\tSEQ\tLAG\tRELAY\tCONNECTED SINCE\tLAST NACK")
	for _, e := range v.Edges {
		nack := "-"
		if e.LastNACK != "" {
			nack = fmt.Sprintf("revision %d: %s", e.NACKedRev, oneLine(e.LastNACK))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", e.Node, e.Revision, e.Seq, v.Seq-e.Seq, e.Relay,
			e.ConnectedSince.Format(time.RFC3339), nack)
	}
	tw.Flush()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
