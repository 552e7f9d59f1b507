package sync

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	gosync "sync"
	"time"
)

// The persisted last good state lives in three files of the persist
// directory:
//
//   - last-good.json: a bundle (policy, tuples, changelog position), written
//     whole on every full load and by journal compaction.
//   - last-good.changes: the changelog batches applied on top of it, one line
//     each, appended and fsynced before the batch is served.
//   - last-good.head: the changelog position the journal reaches, rewritten
//     after each append. Every line of the journal is signed on its own, so
//     a journal cut at a line boundary still verifies; the head is what
//     tells it from a complete one.
//
// Together they are exactly what the edge serves, so a restart while the
// store is down never brings back a deleted tuple. All carry an
// HMAC-SHA256 with a key the edge holds outside the persist directory, over
// the content and the origin: an edited, truncated or unsigned file, or a
// missing head, is refused, and the edge stays unready until the store
// answers. The MAC proves the files were written by an edge holding the
// key; it cannot tell an older set of files written by that edge from the
// newest one.

const (
	persistFile = "last-good.json"
	journalFile = "last-good.changes"
	headFile    = "last-good.head"

	// MinPersistKeySize is the least number of bytes a persist key holds.
	MinPersistKeySize = 32
)

// ErrPersistIntegrity is returned when a persisted file fails its integrity
// check: it was edited, truncated, removed, or written without the key.
var ErrPersistIntegrity = errors.New("persisted policy failed its integrity check")

// errNothingPersisted: the directory holds no persisted policy.
var errNothingPersisted = errors.New("nothing persisted")

// ReadPersistKey reads the key that authenticates the persisted policy: a
// file of at least MinPersistKeySize bytes (surrounding white space is not
// counted), e.g. from `head -c 32 /dev/urandom | base64`.
func ReadPersistKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("persist key: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinPersistKeySize {
		return nil, fmt.Errorf("persist key %s: %d bytes, want at least %d random bytes", path, len(b), MinPersistKeySize)
	}
	return b, nil
}

// persisted is the last good bundle as kept on disk.
type persisted struct {
	Revision string   `json:"revision"`
	Name     string   `json:"name"`
	Policy   []byte   `json:"policy"`
	Tuples   []string `json:"tuples,omitempty"`
	Seq      int64    `json:"seq,omitempty"`
	// Modules are Bundle.Modules: the modules a file source read beside
	// the policy, which may have changed or gone by the restart.
	Modules map[string]string `json:"modules,omitempty"`
	SavedAt time.Time         `json:"saved_at"`
	Origin  string            `json:"origin"`
}

// envelope carries a MAC over the exact bytes of Body.
type envelope struct {
	MAC  string          `json:"mac"`
	Body json.RawMessage `json:"body"`
}

// journalBatch is one changelog batch the edge applied, from position From
// (exclusive) to To (inclusive).
type journalBatch struct {
	From    int64          `json:"from"`
	To      int64          `json:"to"`
	At      time.Time      `json:"at"`
	Changes []journalEntry `json:"changes"`
}

type journalEntry struct {
	Seq   int64  `json:"seq"`
	Write bool   `json:"w"`
	Tuple string `json:"t"`
}

// persistStore reads and writes the persisted state. Its methods are safe
// for concurrent use: the loader appends while a compaction runs.
type persistStore struct {
	dir    string
	key    []byte
	origin string

	mu gosync.Mutex
	// gen counts whole-bundle writes; a compaction that started before
	// one is dropped.
	gen int
	// broken is set when an append failed: the files on disk are behind
	// what is served, so they were removed and nothing is appended until
	// the next whole bundle.
	broken bool
	// journaled counts the changes in the journal since the last whole
	// bundle.
	journaled int
}

func (p *persistStore) mac(domain string, body []byte) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(p.origin))
	m.Write([]byte{0})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (p *persistStore) verify(domain string, body []byte, mac string) bool {
	want, err := hex.DecodeString(mac)
	if err != nil {
		return false
	}
	got, _ := hex.DecodeString(p.mac(domain, body))
	return hmac.Equal(got, want)
}

const (
	bundleDomain  = "edgeauthz last-good bundle v2"
	journalDomain = "edgeauthz last-good changes v1"
	headDomain    = "edgeauthz last-good head v1"
)

// journalHead is the content of the head file.
type journalHead struct {
	Seq int64 `json:"seq"`
}

// writeHeadLocked records that the persisted state reaches position seq.
// It is written after what it vouches for, so that a crash in between
// leaves a head behind the journal (harmless), never ahead of it.
func (p *persistStore) writeHeadLocked(seq int64) error {
	body, err := json.Marshal(journalHead{Seq: seq})
	if err != nil {
		return err
	}
	return writeAtomic(p.dir, headFile, append(append([]byte(p.mac(headDomain, body)+" "), body...), '\n'))
}

// readHead returns the position the persisted state reached when it was
// last written. A missing head is refused like a truncated journal: without
// it, a journal that lost its last batches looks complete (and state from
// an edgeauthz that wrote no head is not known to be complete either).
func (p *persistStore) readHead() (int64, error) {
	data, err := os.ReadFile(filepath.Join(p.dir, headFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w (missing: removed, or written by an older edgeauthz)", headFile, ErrPersistIntegrity)
	}
	if err != nil {
		return 0, err
	}
	line, ok := bytes.CutSuffix(data, []byte{'\n'})
	mac, body, cut := bytes.Cut(line, []byte{' '})
	var h journalHead
	if !ok || !cut || !p.verify(headDomain, body, string(mac)) || json.Unmarshal(body, &h) != nil {
		return 0, fmt.Errorf("%s: %w", headFile, ErrPersistIntegrity)
	}
	return h.Seq, nil
}

// saveBundle writes a whole bundle and empties the journal.
func (p *persistStore) saveBundle(b persisted) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	data, err := json.Marshal(envelope{MAC: p.mac(bundleDomain, body), Body: body})
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	if err := p.replaceLocked(data, b.Seq, nil); err != nil {
		// What is left on disk is an older policy, which must not be
		// served, nor extended with the new bundle's changes.
		return p.dropLocked(err)
	}
	return nil
}

// dropLocked removes the persisted files after a failed write, so that
// they are never served behind what the edge served; nothing is appended
// until the next whole bundle.
func (p *persistStore) dropLocked(cause error) error {
	p.broken = true
	var rmErr error
	for _, name := range []string{persistFile, journalFile, headFile} {
		if err := os.Remove(filepath.Join(p.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			rmErr = errors.Join(rmErr, err)
		}
	}
	if rmErr != nil {
		return fmt.Errorf("%w (and removing the stale persisted policy failed: %v)", cause, rmErr)
	}
	return cause
}

// replaceLocked installs a whole bundle at position seq, then rewrites the
// journal keeping the batches past seq (keep nil: none, and the head moves
// to seq). A crash between the steps leaves batches the bundle already
// holds; loading skips them. A compaction keeps the head: the bundle and
// the kept batches still reach it.
func (p *persistStore) replaceLocked(data []byte, seq int64, keep [][]byte) error {
	if err := os.MkdirAll(p.dir, 0o750); err != nil {
		return err
	}
	if err := writeAtomic(p.dir, persistFile, data); err != nil {
		return err
	}
	p.broken, p.journaled = false, 0
	if keep == nil {
		if err := p.writeHeadLocked(seq); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(p.dir, journalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	var buf bytes.Buffer
	for _, line := range keep {
		buf.Write(line)
		buf.WriteByte('\n')
	}
	p.journaled = len(keep)
	return writeAtomic(p.dir, journalFile, buf.Bytes())
}

// appendChanges journals a batch before it is served. On failure the
// persisted state is removed, since it would be older than what is served.
func (p *persistStore) appendChanges(from int64, changes []TupleChange, at time.Time) (journaled int, err error) {
	b := journalBatch{From: from, To: changes[len(changes)-1].Seq, At: at, Changes: make([]journalEntry, len(changes))}
	for i, c := range changes {
		b.Changes[i] = journalEntry(c)
	}
	body, err := json.Marshal(b)
	if err != nil {
		return 0, err
	}
	line := append(append([]byte(p.mac(journalDomain, body)+" "), body...), '\n')
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return 0, errors.New("the persisted policy was dropped after an earlier failure; it is written again at the next full load")
	}
	err = func() error {
		f, err := os.OpenFile(filepath.Join(p.dir, journalFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		if _, err := f.Write(line); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return p.writeHeadLocked(b.To)
	}()
	if err != nil {
		return 0, p.dropLocked(err)
	}
	p.journaled += len(changes)
	return p.journaled, nil
}

// load reads the persisted bundle and replays the journal on it. The result
// is what the edge served last, or an error: nothing persisted, a file that
// fails its integrity check, another origin, a gap in the journal, or a
// journal that ends before the head.
func (p *persistStore) load() (b persisted, replayed int, err error) {
	data, err := os.ReadFile(filepath.Join(p.dir, persistFile))
	if errors.Is(err, os.ErrNotExist) {
		return persisted{}, 0, errNothingPersisted
	}
	if err != nil {
		return persisted{}, 0, err
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil || env.MAC == "" || len(env.Body) == 0 {
		return persisted{}, 0, fmt.Errorf("%s: %w (unreadable or unsigned)", persistFile, ErrPersistIntegrity)
	}
	if !p.verify(bundleDomain, env.Body, env.MAC) {
		return persisted{}, 0, fmt.Errorf("%s: %w (edited, or written with another key or for another store)", persistFile, ErrPersistIntegrity)
	}
	if err := json.Unmarshal(env.Body, &b); err != nil {
		return persisted{}, 0, fmt.Errorf("%s: %w", persistFile, err)
	}
	if b.Origin != p.origin {
		return persisted{}, 0, fmt.Errorf("%s: came from %q, this edge follows %q", persistFile, b.Origin, p.origin)
	}
	// The head is read before the journal: an append running meanwhile
	// (a compaction loads while the loader appends) writes its line before
	// its head, so the journal read next reaches at least this far.
	head, err := p.readHead()
	if err != nil {
		return persisted{}, 0, err
	}
	batches, _, err := p.readJournal()
	if err != nil {
		return persisted{}, 0, err
	}
	var set map[string]struct{}
	for _, jb := range batches {
		if jb.To <= b.Seq {
			continue // already in the bundle
		}
		if jb.From != b.Seq {
			return persisted{}, 0, fmt.Errorf("%s: %w (a batch from position %d follows position %d)", journalFile, ErrPersistIntegrity, jb.From, b.Seq)
		}
		if set == nil {
			set = make(map[string]struct{}, len(b.Tuples))
			for _, t := range b.Tuples {
				set[t] = struct{}{}
			}
		}
		for _, c := range jb.Changes {
			if c.Write {
				set[c.Tuple] = struct{}{}
			} else {
				delete(set, c.Tuple)
			}
		}
		b.Seq, b.SavedAt = jb.To, jb.At
		replayed += len(jb.Changes)
	}
	if b.Seq < head {
		return persisted{}, 0, fmt.Errorf("%s: %w (it ends at position %d, but %s records %d: batches were cut off its end)",
			journalFile, ErrPersistIntegrity, b.Seq, headFile, head)
	}
	if set != nil {
		b.Tuples = make([]string, 0, len(set))
		for t := range set {
			b.Tuples = append(b.Tuples, t)
		}
	}
	return b, replayed, nil
}

// readJournal returns the journal's verified batches in order, and their
// lines. A last line without its newline is refused like any other bad
// line: it may be an append a crash cut short (never served), but just as
// well a served batch cut off the end, and dropping it could bring back a
// deleted tuple.
func (p *persistStore) readJournal() ([]journalBatch, [][]byte, error) {
	f, err := os.Open(filepath.Join(p.dir, journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var batches []journalBatch
	var lines [][]byte
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return nil, nil, fmt.Errorf("%s line %d: %w (cut short: no newline at its end)", journalFile, n, ErrPersistIntegrity)
			}
			return batches, lines, nil
		}
		if err != nil {
			return nil, nil, err
		}
		line = line[:len(line)-1]
		mac, body, ok := bytes.Cut(line, []byte{' '})
		var jb journalBatch
		if !ok || !p.verify(journalDomain, body, string(mac)) || json.Unmarshal(body, &jb) != nil || len(jb.Changes) == 0 {
			return nil, nil, fmt.Errorf("%s line %d: %w", journalFile, n, ErrPersistIntegrity)
		}
		batches, lines = append(batches, jb), append(lines, line)
	}
}

// compact folds the journal into a new whole bundle, so that it does not
// grow without bound between full loads. It reads and writes the large
// bundle without holding the lock; appends continue meanwhile and are kept.
func (p *persistStore) compact() error {
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	b, replayed, err := p.load()
	if err != nil || replayed == 0 {
		return err
	}
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	data, err := json.Marshal(envelope{MAC: p.mac(bundleDomain, body), Body: body})
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen || p.broken {
		return nil // a full load or a failure replaced the files meanwhile
	}
	batches, lines, err := p.readJournal()
	if err != nil {
		return err
	}
	keep := [][]byte{}
	for i, jb := range batches {
		if jb.To > b.Seq {
			keep = append(keep, lines[i])
		}
	}
	p.gen++
	return p.replaceLocked(data, b.Seq, keep)
}

// writeAtomic writes dir/name through a temp file, fsync and rename, so a
// crash mid-write never leaves a torn file behind.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}
