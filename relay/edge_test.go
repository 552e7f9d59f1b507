package relay_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"golang.org/x/net/dns/dnsmessage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	"github.com/edgeauthz/edgeauthz/relay"
	"github.com/edgeauthz/edgeauthz/relay/wire"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// TestChunkedBootstrapStaysUnderTheMessageLimit: a store many times larger
// than the edge's receive limit bootstraps in chunks, while writes go on and
// the relay folds and splits its base; every response fits the limit (a
// larger one would break the stream and the edge would never converge).
func TestChunkedBootstrapStaysUnderTheMessageLimit(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	var tuples []string
	for i := range 6000 {
		tuples = append(tuples, fmt.Sprintf("document:doc%d#viewer@user:someone-with-a-long-name-%d", i, i))
	}
	if _, err := pgstore.WriteTuples(ctx, pool, tuples); err != nil {
		t.Fatal(err)
	}
	const limit = 64 << 10 // the store is about 400 KiB
	r := startRelay(t, dsn, "", relay.Options{Chunks: 2, MaxChunkBytes: 8 << 10, FoldAfter: 40}, false)
	<-r.relay.Loaded()
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit))}
	var edges []*edge
	for i := range 3 {
		edges = append(edges, startEdgeWith(t, "xds://"+r.addr, policysync.XDSOptions{
			NodeID: fmt.Sprintf("e%d", i), DialOptions: dial, ChunksInFlight: 4}))
	}
	// Writes while the edges bootstrap: the relay folds every 40 changes
	// and the growing base outgrows its chunks.
	for i := range 120 {
		batch := []string{fmt.Sprintf("document:new%d#viewer@user:someone-with-a-long-name-%d", i, i)}
		if _, err := pgstore.WriteTuples(ctx, pool, batch); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := pgstore.DeleteTuples(ctx, pool, []string{tuples[i]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := storeTuples(t, dsn)
	waitFor(t, "every edge equal to the store", func() bool {
		for _, e := range edges {
			if got, _ := edgeTuples(e); !slices.Equal(got, want) {
				return false
			}
		}
		return true
	})
	waitFor(t, "every edge decides with the last write", func() bool {
		for _, e := range edges {
			if asUser(e.engine, "someone-with-a-long-name-119", "/docs/new119") != decision.ReasonAllowed {
				return false
			}
		}
		return true
	})
}

// dnsServer answers A queries for name with addrs, and every other query
// with no records, on 127.0.0.1 over UDP, until the test ends.
func dnsServer(t *testing.T, name string, addrs ...[4]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA && strings.EqualFold(q.Name.String(), name+".") {
				for _, a := range addrs {
					_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: a})
				}
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// TestDNSNameFailover: an edge given one DNS name that resolves to two
// relays (127.0.0.1 and 127.0.0.2, one port) follows one and, when it
// dies, the other, through gRPC's own DNS resolver (pointed at a DNS server
// on loopback instead of the system's).
func TestDNSNameFailover(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	a, b, source := relaysBehindOneName(t, dsn)
	e := startEdgeWith(t, source, policysync.XDSOptions{NodeID: "edge-dns"})
	waitFor(t, "ann allowed", func() bool { return asUser(e.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
	connectedTo := func(r *runningRelay) bool {
		for _, s := range r.relay.Fleet().Status().Edges {
			if s.Node == "edge-dns" {
				return true
			}
		}
		return false
	}
	first, second := a, b
	if connectedTo(b) {
		first, second = b, a
	}
	first.stop()
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:bob"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob allowed through the other relay", func() bool {
		return asUser(e.engine, "bob", "/docs/d1") == decision.ReasonAllowed
	})
	if !connectedTo(second) {
		t.Fatal("the edge is not on the surviving relay")
	}
}

// relaysBehindOneName starts two relays on one port of 127.0.0.1 and
// 127.0.0.2 and returns them with an xds:// source naming both through one
// DNS name (a DNS server on loopback answers for it).
func relaysBehindOneName(t *testing.T, dsn string) (a, b *runningRelay, source string) {
	t.Helper()
	// One port free on both loopback addresses.
	for try := 0; b == nil; try++ {
		a = startRelay(t, dsn, "127.0.0.1:0", relay.Options{}, false)
		_, port, _ := net.SplitHostPort(a.addr)
		l, err := net.Listen("tcp", "127.0.0.2:"+port)
		if err == nil {
			l.Close()
			b = startRelay(t, dsn, "127.0.0.2:"+port, relay.Options{}, false)
			continue
		}
		a.stop()
		if try == 20 {
			t.Skipf("no port free on both 127.0.0.1 and 127.0.0.2: %v", err)
		}
	}
	_, port, _ := net.SplitHostPort(a.addr)
	dns := dnsServer(t, "relays.edgeauthz.test", [4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 2})
	return a, b, "xds://dns://" + dns + "/relays.edgeauthz.test:" + port
}

// TestDNSNameSpreadsEdges: edges given one DNS name that resolves to two
// relays do not all follow the first address; each tries the addresses in
// its own random order. Edges are added until both relays have one (at
// most 40: all on one relay by chance is then a 1 in 2^39 event).
func TestDNSNameSpreadsEdges(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	a, b, source := relaysBehindOneName(t, dsn)
	edges := func(r *runningRelay) int { return len(r.relay.Fleet().Status().Edges) }
	for i := 0; edges(a) == 0 || edges(b) == 0; i++ {
		if i == 40 {
			t.Fatalf("%d edges on 127.0.0.1 and %d on 127.0.0.2: edges follow one address", edges(a), edges(b))
		}
		e := startEdgeWith(t, source, policysync.XDSOptions{NodeID: fmt.Sprintf("edge-%d", i)})
		// Once it decides, the edge is on a relay and that relay's fleet
		// status lists it.
		waitFor(t, "ann allowed", func() bool { return asUser(e.engine, "ann", "/docs/d1") == decision.ReasonAllowed })
		waitFor(t, "the edge in a fleet status", func() bool { return edges(a)+edges(b) == i+1 })
	}
	t.Logf("%d edges on 127.0.0.1, %d on 127.0.0.2", edges(a), edges(b))
}

// TestOneTransactionOneResponse: the rows of one store transaction (a
// write API call's writes and deletes) reach an edge in one response, which
// the edge applies whole, and a follower names its position to get them.
func TestOneTransactionOneResponse(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, dsn, "", relay.Options{}, false)
	<-r.relay.Loaded()
	conn, err := grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
	if err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := pool.QueryRow(ctx, `SELECT max(seq) FROM edgeauthz_tuple_changelog`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: "raw"}, TypeUrl: wire.DeltasType,
		ResourceNamesSubscribe: []string{wire.AfterName(seq)}}); err != nil {
		t.Fatal(err)
	}
	write := make([]string, 10_000) // several deltas of one publication
	for i := range write {
		write[i] = fmt.Sprintf("document:a-longer-document-name-%d#viewer@user:bob", i)
	}
	if _, _, err := pgstore.ChangeTuplesAs(ctx, pool, "test", write, []string{"document:d1#viewer@user:ann"}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var changes []wire.Change
	for _, res := range resp.GetResources() {
		var d wire.Delta
		if err := wire.Decode(res.GetResource(), &d); err != nil {
			t.Fatal(err)
		}
		changes = append(changes, d.Changes...)
	}
	if len(resp.GetResources()) < 2 || len(changes) != 10_001 || changes[0].Seq != seq+1 || changes[10_000].Write {
		t.Fatalf("the first response after %d holds %d changes in %d deltas, want the transaction's 10,001", seq, len(changes), len(resp.GetResources()))
	}
}
