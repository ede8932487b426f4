/* fsutil.h — small file-system helpers with durable semantics. */
#ifndef PW_FSUTIL_H
#define PW_FSUTIL_H

#include <stddef.h>

/* mkdir -p with mode 0750. Returns PW_OK or PW_EIO. */
int pw_mkdir_p(const char *path);
/* fsync the directory at path. */
int pw_fsync_dir(const char *path);
/* Durably replaces `path` with `len` bytes: write `path.tmp`, fsync, rename, fsync the directory.
 * On failure the old file is untouched and the temp file removed. PW_ENOSPC when the disk is full. */
int pw_file_replace(const char *path, const void *data, size_t len);
/* Reads a whole file of at most `max` bytes into a NUL-terminated heap buffer (caller frees).
 * PW_ENOTFOUND, PW_ETOOBIG, PW_EIO. *out is untouched on error. */
int pw_file_read(const char *path, size_t max, char **out, size_t *len);
/* errno → pw_err (ENOSPC/EDQUOT → PW_ENOSPC, ENOENT → PW_ENOTFOUND, ...). */
int pw_err_from_errno(int e);

#endif
