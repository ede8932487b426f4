// archivecheck verifies a parkwatch archive with the Go team's own transparency-log code
// (golang.org/x/mod/sumdb/note and sumdb/tlog, as packaged by Debian), not with parkwatch's:
//
//	archivecheck -vkey VKEY (-url BASE [-token T] | -dir EXPORT) [-old CHECKPOINT_FILE]
//	             [-receipt FILE [-leaf FILE]]
//
// It checks the checkpoint's Ed25519 signature (note.Open), reads the hash tiles through
// tlog.TileHashReader (which checks every tile it reads against the signed root), recomputes the
// root (tlog.TreeHash), checks every entry of the entry bundles against the tree
// (tlog.ProveRecord + tlog.CheckRecord), optionally the consistency of an older checkpoint
// (tlog.ProveTree + tlog.CheckTree, and parkwatch's own consistency proof), and optionally a
// c2sp.org/tlog-proof receipt for a leaf. Exit 0 prints "OK ..."; anything wrong exits 1.
//
// Debian's x/mod 0.7.0: TreeHash(0) returns zeros (the empty tree is SHA-256("")), ParseTree
// insists on the Go checksum database's origin (the three lines are parsed here), and its tile
// paths carry the height (tile/8/L/N): they are mapped to tlog-tiles paths (tile/L/N).
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	flagVkey    = flag.String("vkey", "", "verifier key name+id+key (required)")
	flagURL     = flag.String("url", "", "base URL of the daemon (…/archive/ is appended)")
	flagToken   = flag.String("token", "", "bearer token for -url")
	flagDir     = flag.String("dir", "", "an exported filing package (parkwatch archive export)")
	flagOld     = flag.String("old", "", "an older signed checkpoint that must be a prefix")
	flagReceipt = flag.String("receipt", "", "a .tlog-proof receipt to check")
	flagLeaf    = flag.String("leaf", "", "the leaf bytes the receipt is for (default: the receipt's extra line)")
	flagFrom    = flag.Int64("from-entry", -1, "check the entries from this index on (entries below were pruned; default: the package's pruned file, else 0)")
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "archivecheck: "+format+"\n", args...)
	os.Exit(1)
}

// fetch reads a path below the log's prefix, from the daemon or the export directory.
func fetch(rel string) ([]byte, error) {
	if *flagDir != "" {
		return os.ReadFile(filepath.Join(*flagDir, filepath.FromSlash(rel)))
	}
	req, err := http.NewRequest("GET", strings.TrimRight(*flagURL, "/")+"/archive/"+rel, nil)
	if err != nil {
		return nil, err
	}
	if *flagToken != "" {
		req.Header.Set("Authorization", "Bearer "+*flagToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", rel, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
	text   []byte
}

// openCheckpoint checks the signature with note.Open and parses origin, size and root.
func openCheckpoint(msg []byte, v note.Verifier) checkpoint {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		fail("checkpoint: fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("checkpoint: bad size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint: bad root %q", lines[2])
	}
	if lines[0] != v.Name() {
		fail("checkpoint: origin %q is not the key's name %q", lines[0], v.Name())
	}
	return checkpoint{lines[0], size, root, []byte(n.Text)}
}

// tiles serves hash tiles to tlog.TileHashReader from tlog-tiles paths.
type tiles struct{ cache map[string][]byte }

func (t *tiles) Height() int { return 8 }

func (t *tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		p := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		if b, ok := t.cache[p]; ok {
			out[i] = b
			continue
		}
		b, err := fetch(p)
		if err != nil {
			return nil, err
		}
		t.cache[p] = b
		out[i] = b
	}
	return out, nil
}

func (t *tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func tilePath(level int, n int64, w int) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	p := "tile/" + level2(level) + "/" + s
	if w < 256 {
		p += fmt.Sprintf(".p/%d", w)
	}
	return p
}

func level2(level int) string {
	if level < 0 {
		return "entries"
	}
	return strconv.Itoa(level)
}

// entries reads every entry of the bundles of a tree of size n from index from (a multiple of
// 256) on.
func entries(n, from int64) [][]byte {
	var all [][]byte
	for b := from / 256; b*256 < n; b++ {
		w := 256
		if n-b*256 < 256 {
			w = int(n - b*256)
		}
		data, err := fetch(tilePath(-1, b, w))
		if err != nil {
			fail("entry bundle %d: %v", b, err)
		}
		for i := 0; i < w; i++ {
			if len(data) < 2 {
				fail("entry bundle %d: entry %d truncated", b, i)
			}
			l := int(data[0])<<8 | int(data[1])
			if len(data) < 2+l {
				fail("entry bundle %d: entry %d truncated", b, i)
			}
			all = append(all, data[2:2+l])
			data = data[2+l:]
		}
		if len(data) != 0 {
			fail("entry bundle %d: %d bytes after %d entries", b, len(data), w)
		}
	}
	return all
}

func parseProofLines(lines []string) []tlog.Hash {
	var p []tlog.Hash
	for _, l := range lines {
		if l == "" {
			continue
		}
		h, err := tlog.ParseHash(l)
		if err != nil {
			fail("proof: bad hash line %q", l)
		}
		p = append(p, h)
	}
	return p
}

func main() {
	flag.Parse()
	if *flagVkey == "" || (*flagURL == "") == (*flagDir == "") {
		fmt.Fprintln(os.Stderr, "usage: archivecheck -vkey VKEY (-url BASE [-token T] | -dir EXPORT) [-old FILE] [-receipt FILE -leaf FILE]")
		os.Exit(2)
	}
	v, err := note.NewVerifier(*flagVkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := fetch("checkpoint")
	if err != nil {
		fail("%v", err)
	}
	cp := openCheckpoint(msg, v)
	tree := tlog.Tree{N: cp.size, Hash: cp.root}
	hr := tlog.TileHashReader(tree, &tiles{cache: map[string][]byte{}})
	if cp.size == 0 {
		if cp.root != tlog.Hash(sha256.Sum256(nil)) {
			fail("empty tree: root is not SHA-256(\"\")")
		}
	} else {
		th, err := tlog.TreeHash(cp.size, hr)
		if err != nil {
			fail("tiles: %v", err)
		}
		if th != cp.root {
			fail("root recomputed from the tiles differs from the checkpoint")
		}
	}
	from := *flagFrom
	if from < 0 {
		from = 0
		if *flagDir != "" { // a package of a pruned log says where its entries begin
			if b, err := os.ReadFile(*flagDir + "/pruned"); err == nil {
				fmt.Sscanf(string(b), "below %d", &from)
			}
		}
	}
	if from%256 != 0 || from > cp.size {
		fail("-from-entry %d: a multiple of 256 within the tree", from)
	}
	ents := entries(cp.size, from)
	for k, e := range ents {
		i := from + int64(k)
		p, err := tlog.ProveRecord(cp.size, int64(i), hr)
		if err != nil {
			fail("entry %d: %v", i, err)
		}
		if err := tlog.CheckRecord(p, cp.size, cp.root, int64(i), tlog.RecordHash(e)); err != nil {
			fail("entry %d is not the one the tree holds: %v", i, err)
		}
	}
	if *flagOld != "" {
		om, err := os.ReadFile(*flagOld)
		if err != nil {
			fail("%v", err)
		}
		old := openCheckpoint(om, v)
		if old.size > cp.size {
			fail("old checkpoint is larger than the current one")
		}
		if old.size > 0 {
			p, err := tlog.ProveTree(cp.size, old.size, hr)
			if err != nil {
				fail("consistency: %v", err)
			}
			if err := tlog.CheckTree(p, cp.size, cp.root, old.size, old.root); err != nil {
				fail("old checkpoint is not a prefix of the current one: %v", err)
			}
			if *flagURL != "" && old.size < cp.size {
				body, err := fetchAPI(fmt.Sprintf("/api/v1/archive/consistency?old=%d&size=%d", old.size, cp.size))
				if err != nil {
					fail("%v", err)
				}
				pp := parseProofLines(strings.Split(string(body), "\n"))
				if err := tlog.CheckTree(tlog.TreeProof(pp), cp.size, cp.root, old.size, old.root); err != nil {
					fail("parkwatch's consistency proof: %v", err)
				}
			}
		}
	}
	if *flagReceipt != "" {
		checkReceipt(v)
	}
	if from > 0 {
		fmt.Printf("OK origin=%s size=%d entries=%d (from %d; below it pruned, checked by the tiles)\n", cp.origin, cp.size, len(ents), from)
	} else {
		fmt.Printf("OK origin=%s size=%d entries=%d\n", cp.origin, cp.size, len(ents))
	}
}

func fetchAPI(path string) ([]byte, error) {
	req, err := http.NewRequest("GET", strings.TrimRight(*flagURL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+*flagToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return b, err
}

// checkReceipt: c2sp.org/tlog-proof@v1, optional extra line, index, hashes, empty line,
// the signed checkpoint.
func checkReceipt(v note.Verifier) {
	r, err := os.ReadFile(*flagReceipt)
	if err != nil {
		fail("%v", err)
	}
	var leaf []byte
	if *flagLeaf != "" {
		if leaf, err = os.ReadFile(*flagLeaf); err != nil {
			fail("%v", err)
		}
	}
	parts := bytes.SplitN(r, []byte("\n\n"), 2)
	if len(parts) != 2 {
		fail("receipt: no empty line before the checkpoint")
	}
	lines := strings.Split(string(parts[0]), "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		fail("receipt: not c2sp.org/tlog-proof@v1")
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		extra, err := base64.StdEncoding.DecodeString(lines[0][6:])
		if err != nil {
			fail("receipt: bad extra line")
		}
		if leaf == nil {
			leaf = extra // parkwatch puts the leaf there
		}
		lines = lines[1:]
	}
	if leaf == nil {
		fail("receipt: no -leaf and no extra line")
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		fail("receipt: no index line")
	}
	idx, err := strconv.ParseInt(lines[0][6:], 10, 64)
	if err != nil {
		fail("receipt: bad index")
	}
	proof := parseProofLines(lines[1:])
	cp := openCheckpoint(parts[1], v)
	if idx < 0 || idx >= cp.size {
		fail("receipt: index %d outside the tree of size %d", idx, cp.size)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(proof), cp.size, cp.root, idx, tlog.RecordHash(leaf)); err != nil {
		fail("receipt: inclusion proof does not verify: %v", err)
	}
	fmt.Printf("receipt OK index=%d\n", idx)
	if len(leaf) >= 11 && leaf[0] == 1 && len(leaf) >= 11+int(leaf[10]) {
		fmt.Printf("leaf kind=%d source=%s bytes=%q\n", leaf[1], leaf[11:11+int(leaf[10])], leaf[11+int(leaf[10]):])
	}
}
