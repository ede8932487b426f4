/* archive.h — the tamper-evident archive (备案): a transparency log in the public formats, so
 * that verifiers nobody here wrote accept it unchanged (docs/archive.md).
 *
 *   - Merkle tree of RFC 6962 / RFC 9162 §2.1 (SHA-256; leaf = H(0x00 ‖ leaf), node =
 *     H(0x01 ‖ left ‖ right)), appended through its right frontier; inclusion and consistency
 *     proofs, generated and verified (a proof of the wrong length is rejected).
 *   - c2sp.org/signed-note with Ed25519 (type 0x01, plain Ed25519, never Ed25519ph),
 *     c2sp.org/tlog-checkpoint (origin, size, root; no timestamp line), c2sp.org/tlog-cosignature
 *     v1 (type 0x04), c2sp.org/tlog-proof receipts.
 *   - c2sp.org/tlog-tiles paths and contents: hash tiles, partial tiles, entry bundles.
 *   - The durable log under <data>/archive/ (archive_open ...): entries and hash tiles on disk,
 *     appended by the pipeline's writer thread as part of its group commit, fsynced with it, and
 *     signed checkpoints.
 *
 * Layering: base only (and libsodium). The pure functions (hashes, proofs, notes, paths) are
 * safe from any thread. */
#ifndef PW_ARCHIVE_H
#define PW_ARCHIVE_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARCHIVE_HASH 32
#define ARCHIVE_MAX_PROOF 64    /* hashes in any proof of a tree below 2^63 leaves */
#define ARCHIVE_MAX_ENTRY 65535 /* bytes of one leaf (entry bundles use a uint16 length) */
#define ARCHIVE_TILE_WIDTH 256  /* hashes per full tile, entries per full bundle */
#define ARCHIVE_TILE_HEIGHT 8
#define ARCHIVE_MAX_NAME 128  /* key names and origins */
#define ARCHIVE_MAX_NOTE 4096 /* a checkpoint note with its signatures */
#define ARCHIVE_MAX_SOURCE 64 /* bytes of a leaf's source field */

/* ==== Merkle tree (pure) ==== */

/* SHA-256(a ‖ b) (libcrypto, SHA-NI where the CPU has it; libsodium otherwise). b may be NULL
 * when bl is 0. Any thread. */
void archive_sha256_2(const void *a, size_t al, const void *b, size_t bl,
                      uint8_t out[ARCHIVE_HASH]);
/* The same with libsodium's portable SHA-256 (the bench compares the two). */
void archive_sha256_sodium(const void *a, size_t al, const void *b, size_t bl,
                           uint8_t out[ARCHIVE_HASH]);
/* out = SHA-256(0x00 ‖ leaf). */
void archive_leaf_hash(const void *leaf, size_t len, uint8_t out[ARCHIVE_HASH]);
/* out = SHA-256(0x01 ‖ l ‖ r); out may alias l or r. */
void archive_node_hash(const uint8_t l[ARCHIVE_HASH], const uint8_t r[ARCHIVE_HASH],
                       uint8_t out[ARCHIVE_HASH]);
/* The root of the empty tree: SHA-256(""). */
void archive_empty_root(uint8_t out[ARCHIVE_HASH]);

/* The right frontier: the roots of the complete subtrees a tree of `size` leaves decomposes into
 * (one per set bit of size; h[k] is the subtree of 2^k leaves). */
struct archive_frontier {
    uint64_t size;
    uint8_t h[64][ARCHIVE_HASH];
};
void archive_frontier_init(struct archive_frontier *f);
/* Appends a leaf hash. Calls on_complete(level, index, hash, arg) for every complete subtree
 * the append closes (level 0 = the leaf itself, then 1, 2, ...; index = its position among the
 * subtrees of that level); on_complete may be NULL. */
void archive_frontier_push(struct archive_frontier *f, const uint8_t leaf[ARCHIVE_HASH],
                           void (*on_complete)(int level, uint64_t index,
                                               const uint8_t h[ARCHIVE_HASH], void *arg),
                           void *arg);
/* The tree head of f (archive_empty_root for size 0). */
void archive_frontier_root(const struct archive_frontier *f, uint8_t out[ARCHIVE_HASH]);

/* Supplies the hash of the complete subtree of 2^level leaves starting at leaf index << level.
 * Returns PW_OK or an error, which the caller passes on. */
typedef int (*archive_subtree_fn)(void *ctx, int level, uint64_t index, uint8_t out[ARCHIVE_HASH]);

/* Proof lengths that (index, size) and (old, size) imply; 0 when they are invalid. */
size_t archive_inclusion_len(uint64_t index, uint64_t size);
size_t archive_consistency_len(uint64_t old_size, uint64_t size);

/* RFC 6962 PATH(index, D[size]) into proof (ARCHIVE_MAX_PROOF hashes) and *n. Returns PW_OK,
 * PW_EINVAL (index >= size) or get's error. */
int archive_inclusion_proof(archive_subtree_fn get, void *ctx, uint64_t index, uint64_t size,
                            uint8_t proof[][ARCHIVE_HASH], size_t *n);
/* RFC 6962 PROOF(old_size, D[size]) (SUBPROOF(m, D[n], true)). old_size == size gives an empty
 * proof. Returns PW_OK, PW_EINVAL (old_size 0 or > size) or get's error. */
int archive_consistency_proof(archive_subtree_fn get, void *ctx, uint64_t old_size, uint64_t size,
                              uint8_t proof[][ARCHIVE_HASH], size_t *n);
/* Root of D[0:size] from get (a proof building block). */
int archive_root_from(archive_subtree_fn get, void *ctx, uint64_t size, uint8_t out[ARCHIVE_HASH]);

/* RFC 9162 §2.1.3.2. PW_OK when leaf_hash is at index in the tree of `size` with `root`;
 * PW_EPROTO when the proof has the wrong length or does not lead to root; PW_EINVAL when
 * index >= size. */
int archive_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf_hash[ARCHIVE_HASH],
                             const uint8_t proof[][ARCHIVE_HASH], size_t n,
                             const uint8_t root[ARCHIVE_HASH]);
/* RFC 9162 §2.1.4.2. PW_OK when the tree (old_size, old_root) is a prefix of (size, root);
 * PW_EPROTO when it is not or the proof has the wrong length; PW_EINVAL for old_size 0 or
 * old_size > size. */
int archive_consistency_verify(uint64_t old_size, uint64_t size,
                               const uint8_t old_root[ARCHIVE_HASH],
                               const uint8_t root[ARCHIVE_HASH],
                               const uint8_t proof[][ARCHIVE_HASH], size_t n);

/* ==== signed notes, checkpoints, cosignatures, receipts (pure) ==== */

/* An Ed25519 note key: name, key ID and keys. */
struct archive_key {
    char name[ARCHIVE_MAX_NAME + 1];
    uint32_t id; /* big-endian first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ pk) */
    uint8_t pk[32];
    uint8_t sk[64]; /* zero for a verifier-only key */
    bool has_sk;
};

/* A key name: 1..ARCHIVE_MAX_NAME bytes of printable ASCII, no space and no '+'. */
bool archive_name_valid(const char *name);
/* Derives the key from a 32-byte seed. PW_EINVAL for a bad name. */
int archive_key_from_seed(struct archive_key *k, const char *name, const uint8_t seed[32]);
/* The verifier key string name+<8 hex id>+base64(0x01 ‖ pk) into out (cap >= 256). */
void archive_vkey_format(const struct archive_key *k, char *out, size_t cap);
/* Parses a verifier key string; PW_EINVAL (what is wrong in err) when malformed or its key ID
 * does not match. */
int archive_vkey_parse(const char *vkey, struct archive_key *k, char *err, size_t errcap);

/* Signs the note text (len bytes, ending in "\n", no empty line inside): out receives text,
 * "\n" and one signature line "— <name> <base64(id ‖ sig)>\n". PW_EINVAL for bad text. */
int archive_note_sign(const struct archive_key *k, const char *text, size_t len,
                      struct pw_buf *out);
/* Appends one more signature line by k over text (a note signed by several keys: key rotation's
 * overlap). PW_EINVAL for bad text or a key without a secret. */
int archive_note_sign_line(const struct archive_key *k, const char *text, size_t len,
                           struct pw_buf *out);
/* Opens a signed note: PW_OK when a signature line of k (name and key ID) verifies; *text_len
 * is then the length of the signed text (from the start of note). PW_EPROTO (malformed),
 * PW_ENOTFOUND (no signature by k), PW_EAUTH (k's signature does not verify). */
int archive_note_verify(const struct archive_key *k, const char *note, size_t len,
                        size_t *text_len);

/* A parsed checkpoint. */
struct archive_checkpoint {
    char origin[ARCHIVE_MAX_NAME + 1];
    uint64_t size;
    uint8_t root[ARCHIVE_HASH];
};
/* "origin\nsize\nbase64(root)\n" into out. */
void archive_checkpoint_text(const struct archive_checkpoint *c, struct pw_buf *out);
/* Parses the text of a checkpoint (extension lines after the root are allowed and ignored).
 * PW_EPROTO with err naming the line. */
int archive_checkpoint_parse(const char *text, size_t len, struct archive_checkpoint *c, char *err,
                             size_t errcap);

/* c2sp.org/tlog-cosignature v1: a cosignature line by witness key k (its ID uses type 0x04) on
 * the checkpoint text, at unix time t, appended to out. */
void archive_cosign(const struct archive_key *k, const char *cp_text, size_t len, uint64_t t,
                    struct pw_buf *out);
/* Key ID of a cosignature key (type 0x04). */
uint32_t archive_cosign_key_id(const char *name, const uint8_t pk[32]);
/* Verifies the cosignature line (without "— name " prefix check beyond the name) of witness
 * key k (pk, name) in note. PW_OK, PW_ENOTFOUND, PW_EAUTH. *t receives the time. */
int archive_cosign_verify(const char *name, const uint8_t pk[32], const char *note, size_t len,
                          uint64_t *t);

/* c2sp.org/tlog-proof@v1: the receipt text for leaf index with its inclusion proof and the
 * signed checkpoint note it is relative to; extra (may be NULL) goes base64 into the optional
 * "extra" line (parkwatch puts the leaf there, so that a receipt stands alone). */
void archive_receipt_format(uint64_t index, const uint8_t proof[][ARCHIVE_HASH], size_t n,
                            const char *signed_cp, size_t cp_len, const void *extra,
                            size_t extra_len, struct pw_buf *out);
/* Checks a receipt against the leaf bytes and the log's verifier key: the checkpoint's
 * signature, its origin (== k->name when origin is NULL) and the inclusion proof. PW_OK,
 * PW_EPROTO (malformed or wrong proof; err says where), PW_EAUTH (signature). */
int archive_receipt_verify(const struct archive_key *k, const char *origin, const char *receipt,
                           size_t len, const void *leaf, size_t leaf_len, char *err, size_t errcap);

/* ==== witness (witness.c; c2sp.org/tlog-witness) ==== */

struct archive;
struct archive_witness;

/* The witness key: its own Ed25519 key derived from the archive seed, named `name`, with the
 * cosignature key ID (type 0x04). */
void archive_witness_key_from_seed(struct archive_key *k, const char *name, const uint8_t seed[32]);
/* Its verifier key string name+<id>+base64(0x04 ‖ pk). */
void archive_witness_vkey_format(const struct archive_key *k, char *out, size_t cap);
/* Parses a cosignature verifier key (type 0x04). PW_EINVAL with err. */
int archive_witness_vkey_parse(const char *vkey, struct archive_key *k, char *err, size_t errcap);
/* A witness keeping its state in dir for the logs whose verifier keys are in logs_csv
 * (comma-separated). PW_ECONFIG (err names the bad key) or PW_EIO. */
int archive_witness_open(const char *dir, const struct archive_key *key, const char *logs_csv,
                         struct archive_witness **out, char *err, size_t errcap);
void archive_witness_close(struct archive_witness *w);
/* Handles one add-checkpoint request body; returns the HTTP status and writes the response body
 * (cosignature lines on 200, the held size on 409, a message otherwise) and its content type.
 * Any thread. */
int archive_witness_add(struct archive_witness *w, const char *body, size_t len, uint64_t now_s,
                        struct pw_buf *out, const char **content_type);

/* The log side: pushes every new checkpoint of a to the witnesses in csv ("URL VKEY" entries,
 * comma-separated; URL is the witness prefix, .../add-checkpoint is appended) from a thread of
 * its own, and adds each verified cosignature to the served checkpoint. PW_ECONFIG with err. */
struct archive_pusher;
int archive_pusher_start(struct archive *a, const char *csv, struct archive_pusher **out, char *err,
                         size_t errcap);
void archive_pusher_stop(struct archive_pusher *p);

/* ==== tiles (pure) ==== */

/* "tile/<L>/<N>[.p/<W>]" (level >= 0) or "tile/entries/<N>[.p/<W>]" (level < 0) for tile n
 * of width w (ARCHIVE_TILE_WIDTH = full) into out. Returns the length, or 0 when it does not
 * fit or w is 0 or > 256. */
size_t archive_tile_path(int level, uint64_t n, unsigned w, char *out, size_t cap);
/* Parses what archive_tile_path writes (after "tile/"): *level -1 for entries. PW_EINVAL when it
 * is not a canonical tile path (leading zeros beyond the groups, width 0 or >= 256 after .p,
 * level > 63 ...). */
int archive_tile_parse(const char *path, int *level, uint64_t *n, unsigned *w);
/* The width of tile n at level (entries: level -1) in a tree of size leaves: 256 for a full tile,
 * 1..255 for the partial one, 0 when it does not exist yet. */
unsigned archive_tile_width(int level, uint64_t n, uint64_t size);

/* ==== leaves ==== */

/* Kinds of leaf (the leaf header's byte 1). Only grows. */
enum archive_kind {
    ARCHIVE_KIND_HJ212_RX = 1, /* an HJ 212 frame received ("##" through CRC and CRLF) */
    ARCHIVE_KIND_HJ212_TX = 2, /* an HJ 212 frame parkwatch sent */
    ARCHIVE_KIND_JT808_RX = 3,
    ARCHIVE_KIND_JT808_TX = 4,
    ARCHIVE_KIND_MODBUS_RX = 5,
    ARCHIVE_KIND_MQTT_RX = 6, /* topic NUL payload */
    ARCHIVE_KIND_DEVICE_EVENT = 7,
    ARCHIVE_KIND_LINE_PROTOCOL = 8,
    ARCHIVE_KIND_OPERATOR = 9,   /* operator action (JSON) */
    ARCHIVE_KIND_ARCHIVE = 10,   /* the archive's own events (key rotation) */
    ARCHIVE_KIND_MODBUS_TX = 11, /* a Modbus TCP request parkwatch sent (the ADU) */
};
#define ARCHIVE_LEAF_VERSION 1
#define ARCHIVE_LEAF_HEADER 11 /* version, kind, time (8), source length (1); then the source */

/* Writes the leaf header and bytes into out (cap >= ARCHIVE_LEAF_HEADER + source + len).
 * Returns the leaf length, or 0 when the leaf would exceed ARCHIVE_MAX_ENTRY or cap. source is
 * truncated at ARCHIVE_MAX_SOURCE bytes. */
size_t archive_leaf_encode(uint8_t *out, size_t cap, enum archive_kind kind, int64_t time_ms,
                           const char *source, const void *bytes, size_t len);
struct archive_leaf {
    int version, kind;
    int64_t time_ms;
    const char *source; /* not NUL-terminated */
    size_t source_len;
    const uint8_t *bytes;
    size_t len;
};
/* Splits a leaf (pointers into leaf). PW_EPROTO when the header is malformed. */
int archive_leaf_decode(const uint8_t *leaf, size_t len, struct archive_leaf *out);
const char *archive_kind_name(int kind);

/* ==== the durable log ==== */

struct archive;

/* The archive's writes and fsyncs go through this table, so tests can inject failures. */
struct archive_io {
    ssize_t (*pwrite)(void *ctx, int fd, const void *p, size_t n, off_t off);
    int (*fdatasync)(void *ctx, int fd); /* 0 or -1 with errno */
    void *ctx;
};
/* The POSIX table (pwrite, fdatasync). */
const struct archive_io *archive_io_posix(void);

struct archive_opts {
    const char *dir;                /* <data>/archive */
    const char *key_file;           /* 32-byte Ed25519 seed, mode 0600; created when missing */
    const char *origin;             /* archive.parkwatch.<park id>; also the key name */
    bool fsync;                     /* false: never fsync (tests only) */
    int64_t checkpoint_interval_ms; /* sign at most this often while the tree grows */
    int64_t resign_interval_ms;     /* re-sign an unchanged tree this often */
    bool read_only;                 /* offline tools: no key needed unless present, no writes */
    /* Key rotation. next_key_file: the next key (created when missing); while set, every
     * checkpoint is signed by both keys and, once, a key-rotation leaf records old and new
     * verifier keys. previous_vkeys: comma-separated verifier keys whose checkpoints are still
     * accepted (the old key, once key_file is the new one). */
    const char *next_key_file;
    const char *previous_vkeys;
    const struct archive_io *io; /* NULL: archive_io_posix() */
    /* tests: the clock the daily record's day is taken from (NULL: the signing time) */
    int64_t (*day_ms)(int64_t now_ms);
};
void archive_opts_init(struct archive_opts *o);

/* Opens (creating) the log: reads the stored entries after the verified prefix (<dir>/verified;
 * all of them without one), recomputes the tree and the hash tiles and compares the root with
 * the last signed checkpoint. A mismatch (or entries missing below
 * it, or a bad signature) is an integrity error: logged, counted in
 * parkwatch_archive_integrity_errors_total, and the log stops signing (archive_integrity_ok
 * turns false) but keeps appending. A torn last entry (crash mid-write; never acknowledged) is
 * cut off. Returns PW_OK and *out, PW_EIO/PW_ENOSPC/PW_ECONFIG (key file) with err. */
int archive_open(const struct archive_opts *o, struct archive **out, char *err, size_t errcap);
/* Flushes, syncs, signs a final checkpoint when the tree grew, frees. NULL accepted. */
void archive_close(struct archive *a);

/* ---- writer thread (the pipeline's): append, write, sync ---- */

/* Appends one leaf (hashed into the tree now, written at archive_write). Returns the leaf
 * index, or PW_ETOOBIG (negative) above ARCHIVE_MAX_ENTRY. */
int64_t archive_append(struct archive *a, const void *leaf, size_t len);
/* The same with the leaf hash (archive_leaf_hash of exactly these bytes) computed by the caller
 * beforehand, on its own thread. */
int64_t archive_append_hashed(struct archive *a, const void *leaf, size_t len,
                              const uint8_t leaf_hash[ARCHIVE_HASH]);
/* Writes what was appended to the files (no fsync). Returns PW_OK; PW_ENOSPC when the disk is
 * full: the leaves appended since the last write are dropped (the tree is as it was; their
 * batches must fail, and later appends reuse their indices); or another I/O error (then nothing
 * after the last good write counts as stored; the log must be reopened). */
int archive_write(struct archive *a);
/* Leaves appended (in the tree, perhaps not written yet). */
uint64_t archive_appended(const struct archive *a);
/* Leaves written so far (archive_write) and durable (fsync finished). */
uint64_t archive_written(const struct archive *a);
uint64_t archive_durable(const struct archive *a);

/* An fsync of everything written, prepared on the writer thread, performed on any thread,
 * finished on the writer thread (the pipeline's sync thread runs it with the storage's). */
struct archive_sync_ticket {
    uint64_t size;  /* leaves durable once it succeeds */
    uint64_t bytes; /* their bytes in the entries file */
    uint8_t root[ARCHIVE_HASH];
    int fd;
    const struct archive_io *io;
    int rc;
};
/* false when nothing needs an fsync (then everything written is durable already). */
bool archive_sync_prepare(struct archive *a, struct archive_sync_ticket *t);
int archive_sync_perform(struct archive_sync_ticket *t);
int archive_sync_finish(struct archive *a, const struct archive_sync_ticket *t);

/* Signs a checkpoint of the durable tree when due (grew and checkpoint_interval passed, or
 * resign_interval passed) or when force is set. Never signs a size at or below the last signed
 * one with another root, nor while integrity is broken. Returns PW_OK (signed or not due),
 * PW_ECONFLICT (signing stopped by an integrity error), or an I/O error. */
int archive_checkpoint_maybe(struct archive *a, int64_t now_ms, bool force);

/* ---- readers (any thread) ---- */

bool archive_integrity_ok(const struct archive *a);
/* What the open read: the leaves taken as verified from an earlier start or clean shutdown
 * (<dir>/verified), and the leaves it read and hashed (after that prefix, plus spot checks). */
uint64_t archive_open_verified_prefix(const struct archive *a);
uint64_t archive_open_rehashed(const struct archive *a);
/* The first integrity problem found ("" while there is none); valid until archive_close. */
const char *archive_problem(const struct archive *a);
/* The latest signed checkpoint note, with the witnesses' cosignatures collected for it, into
 * out. PW_ENOTFOUND before the first one. */
int archive_latest_checkpoint(struct archive *a, struct pw_buf *out);
/* The latest checkpoint without cosignatures, and its size. */
int archive_latest_signed(struct archive *a, struct pw_buf *out, uint64_t *size);
/* Adds a witness's cosignature line to the served checkpoint when cp_text (len bytes) is still
 * the latest checkpoint's text; returns whether it was added. */
bool archive_add_cosignature(struct archive *a, const char *cp_text, size_t len, const char *line,
                             size_t line_len);
/* Contents of a tile (level >= 0: hashes; level -1: entry bundle) of width w as published by the
 * latest checkpoint (tiles are served only up to its size). PW_ENOTFOUND when the tile does not
 * exist at that size, PW_EIO. */
int archive_tile_read(struct archive *a, int level, uint64_t n, unsigned w, struct pw_buf *out);
/* Verifier key string. */
void archive_vkey(const struct archive *a, char *out, size_t cap);
/* The entry (leaf bytes) at index (must be durable) into out. */
int archive_entry_read(struct archive *a, uint64_t index, struct pw_buf *out);
/* Finds the first leaf of the latest checkpoint's tree received at or after from_ms (leaves are
 * in receive order, give or take the pipeline's reordering) for which match() is true, looking
 * at most max_leaves leaves. PW_OK and *index, PW_ENOTFOUND, or an I/O error. Any thread. */
int archive_find(struct archive *a, int64_t from_ms, uint64_t max_leaves,
                 bool (*match)(const uint8_t *leaf, size_t len, void *arg), void *arg,
                 uint64_t *index);
/* Inclusion proof of index in the tree of size (<= the durable size). */
int archive_prove(struct archive *a, uint64_t index, uint64_t size, uint8_t proof[][ARCHIVE_HASH],
                  size_t *n);
int archive_prove_consistency(struct archive *a, uint64_t old_size, uint64_t size,
                              uint8_t proof[][ARCHIVE_HASH], size_t *n);

/* ---- offline (parkwatch archive verify / export / vkey) ---- */

/* Verifies a stored log without a daemon: recomputes every hash tile and the root from the
 * entries, checks every stored tile equals what the entries give, every signed checkpoint's
 * signature (vkey: NULL = the copy in dir/vkey, reported as such; several comma-separated
 * keys of one log, the current first, accept checkpoints signed by any of them) and that each
 * checkpoint is consistent with the next. from (may be NULL): a signed checkpoint the caller holds,
 * which the stored log must contain as a prefix. Writes a summary and the first problem (naming the
 * entry or tile) to report. PW_OK, PW_ECORRUPT (damage found), PW_EINVAL (bad key or --from),
 * PW_EIO. */
int archive_verify_dir(const char *dir, const char *vkey, const char *from, size_t from_len,
                       struct pw_buf *report);
/* Writes a 备案包 of dir to out_dir: checkpoint, checkpoints (every distinct
 * signed note, oldest first, one after the other), tile/..., vkey (NULL:
 * the copy in dir/vkey). Refuses a damaged log (PW_ECORRUPT). */
int archive_export_dir(const char *dir, const char *vkey, const char *out_dir,
                       struct pw_buf *report);
/* Reads or creates (create = true) the 32-byte seed at path (mode 0600). */
int archive_key_load(const char *path, bool create, uint8_t seed[32], char *err, size_t errcap);

/* ---- pruning ---- */

/* Prunes the entry bundles below index `below` (a multiple of 256, above what is pruned, below the
 * latest checkpoint's size): records it in <dir>/pruned durably, refuses those bundles from now on
 * and frees their space (*freed bytes). The caller has archived the operator's archive.prune leaf
 * first. PW_EINVAL (err says why), PW_EIO. Any thread. */
int archive_prune(struct archive *a, uint64_t below, uint64_t *freed, char *err, size_t errcap);
/* The index below which entries were pruned (0: none). */
uint64_t archive_pruned(struct archive *a);

/* ---- the daily record ---- */

/* The day (Beijing time, UTC+8) of a Unix ms time as YYYY-MM-DD. */
void archive_day_of(int64_t ms, char out[11]);
/* The daily record: the last checkpoint signed on each day, <dir>/daily/<YYYY-MM-DD>. Lists the
 * days filed so far (one per line, oldest first) into out. */
int archive_daily_list(const char *dir, struct pw_buf *out);
/* The daily checkpoint of day (YYYY-MM-DD) into out. PW_ENOTFOUND, PW_EINVAL (not a date). */
int archive_daily_read(const char *dir, const char *day, struct pw_buf *out);

/* ---- beside the log (side.c) ---- */

/* The log's directory. */
const char *archive_dir(const struct archive *a);
/* The command line's operator actions: writes one leaf durably into <dir>/spool (any process;
 * the daemon appends it). PW_OK, PW_ETOOBIG (err says so), PW_EIO ... */
int archive_spool_add(const char *dir, enum archive_kind kind, int64_t time_ms, const char *source,
                      const void *bytes, size_t len, char *err, size_t errcap);
/* Appends the spooled leaves in the order they were made, makes them durable (inline fsync) and
 * removes their files; *taken = how many. Writer thread (or before the pipeline runs). */
int archive_spool_drain(struct archive *a, size_t *taken);
/* API tokens whose /write bodies are not archived (<dir>/write_exempt). */
int archive_exempt_add(const char *dir, const char *token);
struct archive_exempt;
struct archive_exempt *archive_exempt_open(const char *dir);
void archive_exempt_close(struct archive_exempt *x);
/* Whether token is exempt; re-reads the file when it changed (any thread). */
bool archive_exempt_has(struct archive_exempt *x, const char *token);
/* A setting whose change is an operator action: when value differs from the one recorded in
 * <dir>/settings (or none is), appends and syncs a leaf {"action":"setting.change",...,
 * "detail":{"key","old","new"}} and records the value. Before the pipeline runs. */
int archive_setting(struct archive *a, const char *key, const char *value, const char *source,
                    bool *changed);

#endif
