package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/server"
)

const checkPath = "/envoy.service.auth.v3.Authorization/Check"

// h2client speaks raw HTTP/2 to the gRPC port, as an attacker would: it
// opens streams and never sends their messages. A reader goroutine records
// how the server ends each stream.
type h2client struct {
	t    testing.TB
	conn net.Conn
	fr   *http2.Framer

	wmu  sync.Mutex // guards writes on fr, enc, hbuf and next
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32

	mu        sync.Mutex
	maxStr    uint32 // SETTINGS_MAX_CONCURRENT_STREAMS advertised
	maxHdr    uint32 // SETTINGS_MAX_HEADER_LIST_SIZE advertised
	settings  bool
	refused   map[uint32]bool       // RST_STREAM REFUSED_STREAM before any answer
	statuses  map[uint32]codes.Code // trailers' grpc-status
	resets    map[uint32]http2.ErrCode
	goaway    *http2.ErrCode // the code of the first GOAWAY
	debug     string         // and its debug data
	readErr   error
	readerEnd chan struct{}
}

func dialH2(t testing.TB, addr string) *h2client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &h2client{t: t, conn: conn, fr: http2.NewFramer(conn, conn), next: 1,
		refused: map[uint32]bool{}, statuses: map[uint32]codes.Code{}, resets: map[uint32]http2.ErrCode{},
		readerEnd: make(chan struct{})}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go c.read()
	t.Cleanup(c.close)
	waitFor(t, "the server's SETTINGS", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.settings })
	return c
}

func (c *h2client) close() {
	_ = c.conn.Close()
	<-c.readerEnd
}

// read records every frame that ends a stream until the connection closes.
func (c *h2client) read() {
	defer close(c.readerEnd)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			c.mu.Lock()
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				c.maxStr = v
			}
			if v, ok := f.Value(http2.SettingMaxHeaderListSize); ok {
				c.maxHdr = v
			}
			c.settings = true
			c.mu.Unlock()
			c.write(func() error { return c.fr.WriteSettingsAck() })
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				c.write(func() error { return c.fr.WritePing(true, data) })
			}
		case *http2.MetaHeadersFrame:
			if s := f.PseudoValue("status"); s != "" && s != "200" {
				c.t.Errorf("stream %d: HTTP status %s", f.StreamID, s)
			}
			for _, hf := range f.Fields {
				if hf.Name == "grpc-status" {
					n, _ := strconv.Atoi(hf.Value)
					c.mu.Lock()
					c.statuses[f.StreamID] = codes.Code(n)
					c.mu.Unlock()
				}
			}
		case *http2.RSTStreamFrame:
			c.mu.Lock()
			c.resets[f.StreamID] = f.ErrCode
			if _, answered := c.statuses[f.StreamID]; !answered && f.ErrCode == http2.ErrCodeRefusedStream {
				c.refused[f.StreamID] = true
			}
			c.mu.Unlock()
		case *http2.GoAwayFrame:
			c.mu.Lock()
			if c.goaway == nil {
				code := f.ErrCode
				c.goaway, c.debug = &code, string(f.DebugData())
			}
			c.mu.Unlock()
		}
	}
}

// write sends a frame. Its error is ignored: the server may close the
// connection at any time (that is what some tests provoke), and the tests
// judge it by what it sends back.
func (c *h2client) write(f func() error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = f()
}

// open sends HEADERS for Check with no DATA and no END_STREAM, and, when
// reset, RST_STREAM(CANCEL) right after. It returns the stream's id.
func (c *h2client) open(reset bool) uint32 {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	id := c.next
	c.next += 2
	c.hbuf.Reset()
	for _, hf := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", checkPath}, {":authority", "127.0.0.1"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: hf[0], Value: hf[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		c.t.Fatalf("HEADERS %d: %v", id, err)
	}
	if reset {
		if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			c.t.Fatalf("RST_STREAM %d: %v", id, err)
		}
	}
	return id
}

// tally counts the streams refused and the streams answered, by code.
func (c *h2client) tally() (refused int, answered map[codes.Code]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	answered = map[codes.Code]int{}
	for _, code := range c.statuses {
		answered[code]++
	}
	return len(c.refused), answered
}

// heapAlloc is the live heap and the goroutine stacks after a full
// collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// served checks that ordinary callers are still answered.
func served(t *testing.T, r *running, n int) {
	t.Helper()
	for i := range n {
		res, err := r.client.Check(context.Background(), checkRequest("GET", "/steady", nil))
		if err != nil {
			t.Fatalf("call %d of an ordinary caller: %v", i, err)
		}
		if meta(res, "rule") != "steady" {
			t.Fatalf("call %d: %v", i, res)
		}
	}
}

// TestStalledStreamsBounded holds thousands of streams open with HEADERS and
// no message, beyond every limit: each connection admits at most the
// streams it advertises in SETTINGS and refuses the rest with REFUSED_STREAM,
// at most max_waiting_streams wait at once (a newer stream cuts the oldest),
// the heap grows by a bounded amount per held stream and not at all with the
// streams beyond, and ordinary callers are served meanwhile.
func TestStalledStreamsBounded(t *testing.T) {
	const (
		conns     = 8
		perConn   = 200 // advertised limit
		waiting   = 1200
		attempts  = 300  // per connection in the first wave
		more      = 1500 // per connection in the second
		waitedFor = "5m" // no stream reaches it during the test
	)
	r := startServer(t, []byte(policyOpen), fmt.Sprintf(
		"limits: {grpc: {max_concurrent_streams: %d, max_waiting_streams: %d, message_wait: %s}}\n", perConn, waiting, waitedFor))
	served(t, r, 1) // the client's own connection is up before the baseline
	h0, g0 := heapAlloc(), runtime.NumGoroutine()

	clients := make([]*h2client, conns)
	for i := range clients {
		clients[i] = dialH2(t, r.srv.GRPCAddr())
		if got := clients[i].maxStr; got != perConn {
			t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want %d", got, perConn)
		}
	}
	// Every stream ends one of three ways: held (waiting), refused by its
	// connection, or cut because newer streams crowd the waiting set.
	sent := 0
	wave := func(attempts int) {
		t.Helper()
		for _, c := range clients {
			for range attempts {
				c.open(false)
			}
		}
		sent += conns * attempts
		waitFor(t, "every stream beyond the limits to be ended", func() bool {
			refused, cut := 0, 0
			for _, c := range clients {
				rf, ans := c.tally()
				refused += rf
				cut += ans[codes.Canceled]
				for code := range ans {
					if code != codes.Canceled {
						t.Fatalf("streams answered with another code than CANCELLED: %v", ans)
					}
				}
			}
			return r.metric("edgeauthz_grpc_streams_waiting") == waiting && refused+cut == sent-waiting
		})
	}
	wave(attempts)
	h1, g1 := heapAlloc(), runtime.NumGoroutine()
	refused, cut := 0, 0
	for _, c := range clients {
		rf, ans := c.tally()
		refused, cut = refused+rf, cut+ans[codes.Canceled]
	}
	if refused == 0 || cut == 0 {
		t.Errorf("refused %d, cut %d: both limits should have been reached", refused, cut)
	}
	if got := int(r.metric(`edgeauthz_grpc_streams_cut_total{cause="crowded"}`)); got != cut {
		t.Errorf("crowded cuts: metric %d, streams answered CANCELLED %d", got, cut)
	}
	perStream := (int64(h1) - int64(h0)) / waiting
	t.Logf("held %d streams on %d connections: heap and stacks +%d KiB (%d B per stream), goroutines +%d; refused %d, cut %d",
		waiting, conns, (int64(h1)-int64(h0))>>10, perStream, g1-g0, refused, cut)
	if perStream > 48<<10 {
		t.Errorf("%d bytes of heap per held stream", perStream)
	}
	// One handler goroutine per held stream, and a few per connection.
	if g1-g0 > waiting+conns*8 {
		t.Errorf("goroutines grew by %d for %d held streams", g1-g0, waiting)
	}

	// A second, larger wave is refused or cuts older streams: the number
	// held, the goroutines and the heap stay where they were (a kilobyte
	// kept per stream of this wave would be 12 MiB).
	wave(more)
	h2, g2 := heapAlloc(), runtime.NumGoroutine()
	t.Logf("after a second wave: heap %+d KiB, goroutines %+d", (int64(h2)-int64(h1))>>10, g2-g1)
	if int64(h2)-int64(h1) > 6<<20 {
		t.Errorf("heap grew by %d KiB over the first wave", (int64(h2)-int64(h1))>>10)
	}
	if g2-g1 > conns*8 {
		t.Errorf("goroutines grew by %d over the first wave", g2-g1)
	}

	served(t, r, 50)
	for _, c := range clients {
		c.close()
	}
	waitFor(t, "the held streams to be released", func() bool {
		return r.metric("edgeauthz_grpc_streams_waiting") == 0 && runtime.NumGoroutine() <= g0+conns
	})
}

// TestStalledStreamsReclaimed: a stream whose message does not arrive within
// limits.grpc.message_wait is answered CANCELLED and released, so thousands
// of stalled streams all end without the client doing anything.
func TestStalledStreamsReclaimed(t *testing.T) {
	const (
		conns   = 4
		perConn = 500
	)
	r := startServer(t, []byte(policyOpen), fmt.Sprintf(
		"limits: {grpc: {max_concurrent_streams: %d, max_waiting_streams: 1000, message_wait: 200ms}}\n", perConn))
	served(t, r, 1)
	g0 := runtime.NumGoroutine()
	clients := make([]*h2client, conns)
	for i := range clients {
		clients[i] = dialH2(t, r.srv.GRPCAddr())
		for range perConn {
			clients[i].open(false)
		}
	}
	waitFor(t, "every stalled stream to be answered", func() bool {
		for _, c := range clients {
			if _, ans := c.tally(); ans[codes.Canceled] < perConn {
				return false
			}
		}
		return true
	})
	for i, c := range clients {
		refused, ans := c.tally()
		if refused != 0 || len(ans) != 1 {
			t.Errorf("connection %d: %d refused, answers %v; want %d CANCELLED", i, refused, ans, perConn)
		}
		// The server stops reading the streams, so their trailers are
		// followed by RST_STREAM.
		waitFor(t, "RST_STREAM after the trailers", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			for id := range c.statuses {
				if _, ok := c.resets[id]; !ok {
					return false
				}
			}
			return true
		})
	}
	expired := r.metric(`edgeauthz_grpc_streams_cut_total{cause="message_wait"}`)
	crowded := r.metric(`edgeauthz_grpc_streams_cut_total{cause="crowded"}`)
	t.Logf("%d stalled streams: %v cut after message_wait, %v cut as crowded", conns*perConn, expired, crowded)
	if int(expired+crowded) != conns*perConn || expired == 0 {
		t.Errorf("cut: %v by message_wait, %v crowded; want %d in all", expired, crowded, conns*perConn)
	}
	waitFor(t, "the stalled streams' goroutines to end", func() bool {
		return r.metric("edgeauthz_grpc_streams_waiting") == 0 && runtime.NumGoroutine() <= g0+conns*8
	})
	served(t, r, 10)
}

// TestRapidReset opens and at once resets ten thousand streams on
// one connection: the handlers running at once never exceed the advertised
// limit (grpc-go stops reading the connection until one ends), nothing is
// left waiting or allocated afterwards, and ordinary callers are served.
func TestRapidReset(t *testing.T) {
	const (
		perConn = 100
		pairs   = 10000
	)
	r := startServer(t, []byte(policyOpen), fmt.Sprintf("limits: {grpc: {max_concurrent_streams: %d}}\n", perConn))
	served(t, r, 1)
	h0, g0 := heapAlloc(), runtime.NumGoroutine()
	c := dialH2(t, r.srv.GRPCAddr())
	peak := 0
	for i := range pairs {
		c.open(true)
		if i%500 == 0 {
			peak = max(peak, runtime.NumGoroutine()-g0)
		}
	}
	// A Check on the same connection after the flood is still answered.
	waitFor(t, "the flood to be processed", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.readErr == nil && r.metric("edgeauthz_grpc_streams_waiting") == 0 && runtime.NumGoroutine() <= g0+8
	})
	served(t, r, 50)
	h1 := heapAlloc()
	t.Logf("%d HEADERS+RST_STREAM: goroutines peaked at +%d, heap %+d KiB", pairs, peak, (int64(h1)-int64(h0))>>10)
	// Handlers, the stream ends being processed, and the connection's own.
	if peak > 5*perConn {
		t.Errorf("goroutines grew by %d during the flood; the limit is %d streams", peak, perConn)
	}
	if int64(h1)-int64(h0) > 8<<20 {
		t.Errorf("heap grew by %d KiB", (int64(h1)-int64(h0))>>10)
	}
	if got := r.metric(`edgeauthz_grpc_streams_cut_total{cause="crowded"}`); got != 0 {
		t.Errorf("%v streams cut as crowded", got)
	}
}

// TestHeaderBlockBounded: a header block that never ends (HEADERS without
// END_HEADERS, then CONTINUATION frames), whatever it is made of, is not
// decoded past limits.grpc.max_header_list_bytes, which the server
// advertises in SETTINGS: the connection is closed, the heap does not keep
// what was sent, and ordinary callers are served meanwhile. A header list
// just under the limit is still answered.
func TestHeaderBlockBounded(t *testing.T) {
	const (
		limit = 16 << 10 // the default
		conns = 10
		sent  = 500 << 10 // per connection
	)
	// indexed: 1-byte references to one dynamic table entry, 33 bytes of
	// header list each; literal: 1000-byte values, never indexed; huge: one
	// value larger than the limit; drip: one reference per CONTINUATION.
	literal := append([]byte{0x00, 0x01, 'b', 0x7f, 0x80 | (1000-127)%128, (1000 - 127) / 128}, bytes.Repeat([]byte{'x'}, 1000)...)
	huge := append([]byte{0x00, 0x01, 'c', 0x7f, 0x80 | (60000-127)%128, 0x80 | ((60000-127)/128)%128, (60000 - 127) / 16384}, bytes.Repeat([]byte{'y'}, 60000)...)
	cases := []struct {
		name  string
		frags [][]byte // CONTINUATION payloads, repeated until sent bytes
	}{
		{"indexed", [][]byte{bytes.Repeat([]byte{0xBE}, 16000)}},
		{"literal", [][]byte{bytes.Repeat(literal, 15)}},
		{"huge value", [][]byte{huge[:16000], huge[16000:32000], huge[32000:48000], huge[48000:]}},
		{"drip", [][]byte{{0xBE}}},
	}
	r := startServer(t, []byte(policyOpen), "")
	served(t, r, 1)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h0 := heapAlloc()
			var cs []*h2client
			for range conns {
				c := dialH2(t, r.srv.GRPCAddr())
				c.mu.Lock()
				adv := c.maxHdr
				c.mu.Unlock()
				if adv != limit {
					t.Fatalf("SETTINGS_MAX_HEADER_LIST_SIZE %d, want %d", adv, limit)
				}
				_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				c.endless(tc.frags, sent)
				cs = append(cs, c)
			}
			for i, c := range cs {
				waitFor(t, fmt.Sprintf("connection %d to be closed", i), func() bool {
					c.mu.Lock()
					defer c.mu.Unlock()
					return c.readErr != nil
				})
			}
			served(t, r, 5)
			// The attack connections are still open on this side; the
			// server must hold nothing of what they sent.
			h1 := heapAlloc()
			t.Logf("%d connections × %d KiB of header block: heap %+d KiB", conns, sent>>10, (int64(h1)-int64(h0))>>10)
			if int64(h1)-int64(h0) > 4<<20 {
				t.Errorf("heap grew by %d KiB", (int64(h1)-int64(h0))>>10)
			}
		})
	}
	t.Run("under the limit", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-pad", strings.Repeat("p", limit/2))
		res, err := r.client.Check(ctx, checkRequest("GET", "/steady", nil))
		if err != nil {
			t.Fatal(err)
		}
		if meta(res, "rule") != "steady" {
			t.Fatal(res)
		}
	})
}

// endless sends HEADERS for Check without END_HEADERS, then CONTINUATION
// frames cycling through frags, none with END_HEADERS, until n bytes are
// sent or the server stops reading.
func (c *h2client) endless(frags [][]byte, n int) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	id := c.next
	c.next += 2
	c.hbuf.Reset()
	for _, hf := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", checkPath}, {":authority", "127.0.0.1"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: hf[0], Value: hf[1]})
	}
	// A literal with incremental indexing, "a: " becomes entry 62 (0xBE).
	c.hbuf.Write([]byte{0x40, 0x01, 'a', 0x00})
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes()}); err != nil {
		return
	}
	for i := 0; n > 0; i++ {
		f := frags[i%len(frags)]
		if err := c.fr.WriteContinuation(id, false, f); err != nil {
			return
		}
		n -= len(f)
	}
}

// TestQuietConnectionsReleased: a gRPC connection that sends the preface
// and never a stream, and an HTTP keep-alive connection that sends nothing
// more, give their slots back after limits.grpc.max_connection_idle and
// limits.http.read_header_timeout (idle_timeout once it served a request), so with every slot held quietly a new caller is
// served once they pass.
func TestQuietConnectionsReleased(t *testing.T) {
	r := startServer(t, []byte(policyOpen),
		"limits: {grpc: {max_connections: 2, max_connection_idle: 300ms}, http: {max_connections: 2, idle_timeout: 300ms, read_header_timeout: 300ms}}\n")
	served(t, r, 1) // the client's own connection takes one gRPC slot and keeps it busy
	quiet := dialH2(t, r.srv.GRPCAddr())
	waitFor(t, "the quiet gRPC connection to be closed", func() bool {
		quiet.mu.Lock()
		defer quiet.mu.Unlock()
		return quiet.readErr != nil
	})

	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", r.srv.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		held = append(held, c)
	}
	for i, c := range held {
		buf := make([]byte, 1)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
			t.Errorf("quiet HTTP connection %d: read %v, want EOF (closed by the server)", i, err)
		}
	}
	res, err := http.Get(r.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

// TestConnectionBounds: a client pinging more often than
// limits.grpc.min_ping_interval is sent GOAWAY (too_many_pings), and a
// connection older than max_connection_age is sent GOAWAY and closed after
// the grace period, taking a stalled stream with it even when the message
// wait would allow more.
func TestConnectionBounds(t *testing.T) {
	r := startServer(t, []byte(policyOpen),
		"limits: {grpc: {min_ping_interval: 1m, max_connection_age: 300ms, max_connection_age_grace: 1s, message_wait: 5m}}\n")
	served(t, r, 1)

	pinger := dialH2(t, r.srv.GRPCAddr())
	for i := range 10 {
		pinger.write(func() error { return pinger.fr.WritePing(false, [8]byte{byte(i)}) })
	}
	waitFor(t, "GOAWAY after the ping flood", func() bool {
		pinger.mu.Lock()
		defer pinger.mu.Unlock()
		return pinger.goaway != nil
	})
	pinger.mu.Lock()
	if *pinger.goaway != http2.ErrCodeEnhanceYourCalm || pinger.debug != "too_many_pings" {
		t.Errorf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", *pinger.goaway, pinger.debug)
	}
	pinger.mu.Unlock()

	old := dialH2(t, r.srv.GRPCAddr())
	old.open(false)
	waitFor(t, "the old connection to be closed", func() bool {
		old.mu.Lock()
		defer old.mu.Unlock()
		return old.readErr != nil
	})
	old.mu.Lock()
	if old.goaway == nil || *old.goaway != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v before the close, want NO_ERROR", old.goaway)
	}
	if !errors.Is(old.readErr, io.EOF) {
		t.Errorf("the connection ended with %v, want EOF", old.readErr)
	}
	old.mu.Unlock()
	waitFor(t, "the stalled stream to be released", func() bool { return r.metric("edgeauthz_grpc_streams_waiting") == 0 })
}

// TestHTTPLimits: the HTTP port applies limits.http.max_header_bytes, and
// speaks HTTP/1.1 only, so an HTTP/2 preface opens no streams.
func TestHTTPLimits(t *testing.T) {
	r := startServer(t, []byte(policyOpen), "limits: {http: {max_header_bytes: 8192}}\n")
	req, err := http.NewRequest("GET", r.base+"/authz/steady", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("b", 64<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 64 KiB header: %d, want 431", res.StatusCode)
	}
	res, err = http.Get(r.base + "/authz/steady")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("an ordinary request: %d", res.StatusCode)
	}

	conn, err := net.Dial("tcp", r.srv.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(reply), "HTTP/1.1 ") {
		t.Errorf("an HTTP/2 preface was answered %q", reply)
	}
}

// TestUnreadResponsesBounded: a client that never opens its flow-control
// window keeps each answered stream open (its response cannot be sent), and
// those streams count against max_concurrent_streams: the connection refuses
// the streams beyond, so unread responses are bounded by max_connections ×
// max_concurrent_streams.
func TestUnreadResponsesBounded(t *testing.T) {
	const (
		perConn = 400
		sent    = 500
	)
	// Room for every stream to wait, so that none is cut as crowded while
	// its handler waits to run.
	r := startServer(t, []byte(policyOpen), fmt.Sprintf("limits: {grpc: {max_concurrent_streams: %d, max_waiting_streams: %d}}\n", perConn, sent))
	served(t, r, 1)
	h0 := heapAlloc()
	msg, err := proto.Marshal(checkRequest("GET", "/steady", nil))
	if err != nil {
		t.Fatal(err)
	}
	frame := append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...) // uncompressed, length < 256
	c := dialH2(t, r.srv.GRPCAddr())
	c.write(func() error { return c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}) })
	for range sent {
		id := c.open(false)
		c.write(func() error { return c.fr.WriteData(id, true, frame) })
	}
	const decided = `edgeauthz_decisions_total{decision="allow",reason="public",token_error=""}`
	waitFor(t, "every stream to be decided or refused", func() bool {
		refused, _ := c.tally()
		return refused == sent-perConn && r.metric(decided) == perConn+1
	})
	t.Logf("%d streams with unread responses: about %d B each", perConn, (int64(heapAlloc())-int64(h0))/perConn)
	if _, answered := c.tally(); len(answered) != 0 {
		t.Errorf("answers were sent through a closed window: %v", answered)
	}
	served(t, r, 5)
}

// TestNewRefusesUnsetLimits: a configuration built in code without limits is
// refused rather than served with none (or with zero streams).
func TestNewRefusesUnsetLimits(t *testing.T) {
	cfg := config.DefaultServer()
	cfg.Listen = config.Listen{GRPC: "127.0.0.1:0", AuthzPrefix: "/authz"}
	cfg.DecisionLog.Output = "off"
	cfg.Limits.GRPC.MaxConcurrentStreams = 0
	srv, err := server.New(context.Background(), &cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "limits.grpc.max_concurrent_streams must be positive") {
		t.Errorf("New: %v", err)
	}
	if srv != nil {
		t.Error("a server came back with the error")
	}
}

// TestGracefulStopStalled: a graceful stop waits for streams in flight, and
// the message wait still applies to stalled ones meanwhile: they are
// answered CANCELLED, then the connection closes.
func TestGracefulStopStalled(t *testing.T) {
	r := startServer(t, []byte(policyOpen), "limits: {grpc: {message_wait: 300ms}}\n")
	c := dialH2(t, r.srv.GRPCAddr())
	id := c.open(false)
	waitFor(t, "the stream to wait", func() bool { return r.metric("edgeauthz_grpc_streams_waiting") == 1 })
	r.stop()
	<-c.readerEnd // the server closed the connection, and everything before is read
	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := c.statuses[id]; !ok || got != codes.Canceled {
		t.Errorf("stream %d: status %v (answered: %v), want CANCELLED", id, got, ok)
	}
	if c.goaway == nil {
		t.Error("no GOAWAY before the stop")
	}
}
