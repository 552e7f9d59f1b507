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

	"github.com/edgeauthz/edgeauthz/server"
)

const shadowUsage = "shadow [--admin 127.0.0.1:PORT] [--json]"

// runShadow prints a running edge's shadow-policy summary, from its admin
// listener.
func runShadow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("shadow", stderr)
	admin := fs.String("admin", "127.0.0.1:9901", "the edge's admin listener (admin.listen)")
	asJSON := fs.Bool("json", false, "print the edge's JSON instead of tables")
	if pos, err := parseArgs(fs, args); err != nil || len(pos) > 0 {
		return exitUsage
	}
	u := strings.TrimSuffix(*admin, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/shadow", nil)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz shadow:", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz shadow:", err)
		return exitFail
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "edgeauthz shadow: %s: %v %s %s\n", u, err, resp.Status, strings.TrimSpace(string(body)))
		return exitFail
	}
	if *asJSON {
		stdout.Write(body)
		return exitOK
	}
	var st server.ShadowStatus
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintln(stderr, "edgeauthz shadow: the edge's answer:", err)
		return exitFail
	}
	printShadow(stdout, &st)
	return exitOK
}

func printShadow(w io.Writer, st *server.ShadowStatus) {
	rev := st.CandidateRevision
	if rev == "" {
		rev = "(not loaded)"
	}
	fmt.Fprintf(w, "shadow policy %s from %s, comparing %g%% of decisions\n", rev, st.Source, st.Sample*100)
	if st.LastError != "" {
		fmt.Fprintf(w, "last load error: %s\n", oneLine(st.LastError))
	}
	since := ""
	if !st.Since.IsZero() {
		since = " since " + st.Since.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "compared %d%s: %d agree, %d same decision for another reason, %d disagree; %d dropped (queue full), %d with no candidate loaded\n",
		st.Agreed+st.OtherReason+st.Disagreed, since, st.Agreed, st.OtherReason, st.Disagreed, st.Dropped, st.Unavailable)
	if len(st.Routes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nROUTE\tWOULD ALLOW\tWOULD DENY")
	for _, r := range st.Routes {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", r.Route, r.WouldAllow, r.WouldDeny)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nlatest disagreements:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tROUTE\tREQUEST\tSUB\tENFORCED\tCANDIDATE")
	for _, e := range st.Examples {
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s (%s %d)\t%s (%s %d)\n", e.Time.Format(time.RFC3339), e.Route,
			e.Method, e.Path, cmpOr(e.Subject, "-"), e.Enforced.Decision, e.Enforced.Reason, e.Enforced.Status,
			e.Candidate.Decision, e.Candidate.Reason, e.Candidate.Status)
	}
	tw.Flush()
}

func cmpOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
