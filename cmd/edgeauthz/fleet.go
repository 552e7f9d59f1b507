package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeauthz/edgeauthz/relay"
)

// runFleet prints a relay's fleet status as a table.
func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fleet", stderr)
	relayURL := fs.String("relay", "http://127.0.0.1:18001", "the relay's HTTP address")
	asJSON := fs.Bool("json", false, "print the relay's JSON instead of a table")
	if pos, err := parseArgs(fs, args); err != nil || len(pos) > 0 {
		return exitUsage
	}
	u := strings.TrimSuffix(*relayURL, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/fleet", nil)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz fleet:", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz fleet:", err)
		return exitFail
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "edgeauthz fleet: %s: %v %s\n", u, err, resp.Status)
		return exitFail
	}
	if *asJSON {
		stdout.Write(body)
		return exitOK
	}
	var st relay.FleetStatus
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintln(stderr, "edgeauthz fleet: the relay's answer:", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "relay revision %d, changelog seq %d, %d edges\n", st.Revision, st.Seq, len(st.Edges))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREVISION\tSEQ\tLAG\tCONNECTED SINCE\tLAST NACK")
	for _, e := range st.Edges {
		nack := "-"
		if e.LastNACK != "" {
			nack = fmt.Sprintf("revision %d: %s", e.NACKedRev, oneLine(e.LastNACK))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", e.Node, e.Revision, e.Seq, st.Seq-e.Seq,
			e.ConnectedSince.Format(time.RFC3339), nack)
	}
	tw.Flush()
	return exitOK
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
