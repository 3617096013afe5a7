// A power cut for one process, as an LD_PRELOAD library: the file layer under seqd's state dir
// keeps an undo log of every write not yet synced, and at a chosen crash point puts back what
// the disk held at the last sync of each file, then kills the process with SIGKILL. What is
// left on disk is what a machine that lost power at that instant would keep when its disk
// honours fsync and nothing more.
//
// Environment (read once, at the first intercepted call):
//   SEQD_POWERLOSS_DIR         files at or under this absolute path are watched; unset: the
//                              library does nothing but pass calls through.
//   SEQD_POWERLOSS_CRASH_AT    N >= 1: power is lost at the Nth crash point, before it takes
//                              effect; 0 or unset: never (the count is still kept).
//   SEQD_POWERLOSS_MODE        "drop" (default): every unsynced write is lost. "tear": the
//                              same, then the first half of the last page of the last
//                              unsynced write is written anyway (a torn page).
//   SEQD_POWERLOSS_COUNT_FILE  written at every crash point with the count so far, so a run
//                              without a crash says how many crash points a workload has.
//   SEQD_POWERLOSS_SYNC_SUFFIX when set, the only crash points are the fsync and fdatasync
//                              calls on a watched file or folder whose path ends with it (e.g.
//                              "/new": a Maildir's new/ folder synced after a batch's renames).
//   SEQD_POWERLOSS_RENAMES     "undo": a rename to a name that did not exist, both under the
//                              watched path, is moved back at a power loss unless the target's
//                              folder was fsynced after it (its directory entry never reached
//                              the disk). Unset: directory entries count as durable at once.
//
// Crash points: every write to a watched file, and every sync point. Crashing at writes too
// means a program that never syncs (LMDB with MDB_NOSYNC) still loses power somewhere, and
// loses what it acknowledged. Sync points: fsync, fdatasync and sync_file_range of a watched file,
// msync of any mapping (LMDB uses msync only with MDB_WRITEMAP, which seqd does not set), and every
// write to a watched file opened with O_SYNC or O_DSYNC (LMDB writes its meta page so: the write is
// the commit). Writes intercepted: write, pwrite, pwrite64, writev, pwritev, pwritev64, pwritev2.
//
// What is not modelled: directory entries (create, unlink, ftruncate, and renames unless
// SEQD_POWERLOSS_RENAMES=undo; a rename over an existing file always) count as durable at once;
// writes through a shared writable mapping are not seen. Neither happens to data.mdb
// without MDB_WRITEMAP. Thread-safety: one mutex around the log and every watched write, held
// while power is lost, so no other thread writes between the undo and the kill.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

enum { kPageBytes = 4096 };

// One write not yet synced: where it went, what was there before, and what it wrote.
struct Entry {
  dev_t dev;
  ino_t ino;
  char* path;
  off_t offset;
  size_t bytes;       // bytes written
  off_t size_before;  // the file's size before the write
  char* old_bytes;    // the file's bytes in [offset, min(offset + bytes, size_before))
  size_t old_count;
  char* new_bytes;  // what was written (kept for a torn page)
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char watched[PATH_MAX];
static size_t watched_length;
static long crash_at;
static int tear;
static char count_file[PATH_MAX];
static long points;
static struct Entry* entries;
static size_t entry_count;
static size_t entry_room;
static char sync_suffix[PATH_MAX];
static int undo_renames;

// A rename whose target's folder was not fsynced since (SEQD_POWERLOSS_RENAMES=undo).
struct Rename {
  char* source;
  char* target;
  char* target_dir;
};
static struct Rename* renames;
static size_t rename_count;
static size_t rename_room;

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec*, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec*, int, off_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_msync)(void*, size_t, int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat2)(int, const char*, int, const char*, unsigned int);

static void setUp(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_pwritev = dlsym(RTLD_NEXT, "pwritev");
  real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
  real_pwritev2 = dlsym(RTLD_NEXT, "pwritev2");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_msync = dlsym(RTLD_NEXT, "msync");
  real_sync_file_range = dlsym(RTLD_NEXT, "sync_file_range");
  real_rename = dlsym(RTLD_NEXT, "rename");
  real_renameat2 = dlsym(RTLD_NEXT, "renameat2");
  const char* dir = getenv("SEQD_POWERLOSS_DIR");
  if (dir != NULL && dir[0] == '/' && strlen(dir) < sizeof watched) {
    strcpy(watched, dir);
    watched_length = strlen(watched);
    while (watched_length > 1 && watched[watched_length - 1] == '/') watched[--watched_length] = 0;
  }
  const char* at = getenv("SEQD_POWERLOSS_CRASH_AT");
  crash_at = at != NULL ? strtol(at, NULL, 10) : 0;
  const char* mode = getenv("SEQD_POWERLOSS_MODE");
  tear = mode != NULL && strcmp(mode, "tear") == 0;
  const char* counts = getenv("SEQD_POWERLOSS_COUNT_FILE");
  if (counts != NULL && strlen(counts) < sizeof count_file) strcpy(count_file, counts);
  const char* suffix = getenv("SEQD_POWERLOSS_SYNC_SUFFIX");
  if (suffix != NULL && strlen(suffix) < sizeof sync_suffix) strcpy(sync_suffix, suffix);
  const char* renames_mode = getenv("SEQD_POWERLOSS_RENAMES");
  undo_renames = renames_mode != NULL && strcmp(renames_mode, "undo") == 0;
}

// The path of fd when it lies under the watched dir, else 0.
static int watchedPath(int fd, char* path) {
  pthread_once(&once, setUp);
  if (watched_length == 0) return 0;
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t length = readlink(link, path, PATH_MAX - 1);
  if (length <= 0) return 0;
  path[length] = 0;
  if ((size_t)length < watched_length || memcmp(path, watched, watched_length) != 0) return 0;
  return path[watched_length] == 0 || path[watched_length] == '/';
}

// True when path (absolute) lies under the watched dir.
static int isWatched(const char* path) {
  if (watched_length == 0 || strlen(path) < watched_length) return 0;
  if (memcmp(path, watched, watched_length) != 0) return 0;
  return path[watched_length] == 0 || path[watched_length] == '/';
}

// The absolute path of `path` taken relative to dirfd (AT_FDCWD: the working folder); 0 when
// it cannot be told.
static int absolutePath(int dirfd, const char* path, char* out) {
  if (path[0] == '/') {
    if (strlen(path) >= PATH_MAX) return 0;
    strcpy(out, path);
    return 1;
  }
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (getcwd(base, sizeof base) == NULL) return 0;
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t length = readlink(link, base, sizeof base - 1);
    if (length <= 0) return 0;
    base[length] = 0;
  }
  return snprintf(out, PATH_MAX, "%s/%s", base, path) < PATH_MAX;
}

static int endsWith(const char* text, const char* suffix) {
  size_t text_length = strlen(text);
  size_t suffix_length = strlen(suffix);
  return text_length >= suffix_length &&
         memcmp(text + text_length - suffix_length, suffix, suffix_length) == 0;
}

static int syncedOnWrite(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & (O_SYNC | O_DSYNC)) != 0;
}

static void fail(const char* what) {
  char line[256];
  int length = snprintf(line, sizeof line, "powerloss shim: %s: %s\n", what, strerror(errno));
  if (real_write != NULL) real_write(2, line, (size_t)length);
  abort();
}

// Notes a write of `bytes` (gathered from iov) at `offset` before it is made.
static void remember(int fd, const char* path, const struct iovec* iov, int count, off_t offset) {
  if (entry_count == entry_room) {
    entry_room = entry_room == 0 ? 1024 : 2 * entry_room;
    entries = realloc(entries, entry_room * sizeof *entries);
    if (entries == NULL) fail("realloc");
  }
  struct stat info;
  if (fstat(fd, &info) != 0) fail("fstat");
  struct Entry* entry = &entries[entry_count++];
  entry->dev = info.st_dev;
  entry->ino = info.st_ino;
  entry->path = strdup(path);
  if (entry->path == NULL) fail("strdup");
  entry->offset = offset;
  entry->size_before = info.st_size;
  entry->bytes = 0;
  for (int i = 0; i < count; ++i) entry->bytes += iov[i].iov_len;
  entry->new_bytes = malloc(entry->bytes + 1);
  if (entry->new_bytes == NULL) fail("malloc");
  size_t at = 0;
  for (int i = 0; i < count; ++i) {
    memcpy(entry->new_bytes + at, iov[i].iov_base, iov[i].iov_len);
    at += iov[i].iov_len;
  }
  entry->old_count = 0;
  entry->old_bytes = NULL;
  if (offset < info.st_size) {
    off_t end = offset + (off_t)entry->bytes;
    if (end > info.st_size) end = info.st_size;
    entry->old_count = (size_t)(end - offset);
    entry->old_bytes = malloc(entry->old_count + 1);
    if (entry->old_bytes == NULL) fail("malloc");
    // fd may be write-only (LMDB's meta fd is): read through a descriptor of our own.
    int reader = open(path, O_RDONLY | O_CLOEXEC);
    if (reader < 0) fail("open for reading");
    if (pread(reader, entry->old_bytes, entry->old_count, offset) != (ssize_t)entry->old_count) {
      fail("pread");
    }
    close(reader);
  }
}

// The file reached the disk: its writes need no undoing.
static void forget(int fd) {
  struct stat info;
  if (fstat(fd, &info) != 0) return;
  size_t kept = 0;
  for (size_t i = 0; i < entry_count; ++i) {
    if (entries[i].dev == info.st_dev && entries[i].ino == info.st_ino) {
      free(entries[i].path);
      free(entries[i].old_bytes);
      free(entries[i].new_bytes);
    } else {
      entries[kept++] = entries[i];
    }
  }
  entry_count = kept;
}

// The folder at path reached the disk: the renames into it need no undoing.
static void forgetRenamesInto(const char* path) {
  size_t kept = 0;
  for (size_t i = 0; i < rename_count; ++i) {
    if (strcmp(renames[i].target_dir, path) == 0) {
      free(renames[i].source);
      free(renames[i].target);
      free(renames[i].target_dir);
    } else {
      renames[kept++] = renames[i];
    }
  }
  rename_count = kept;
}

// Notes a rename of source to target (both absolute, target new) once it was made.
static void rememberRename(const char* source, const char* target) {
  if (rename_count == rename_room) {
    rename_room = rename_room == 0 ? 256 : 2 * rename_room;
    renames = realloc(renames, rename_room * sizeof *renames);
    if (renames == NULL) fail("realloc");
  }
  struct Rename* entry = &renames[rename_count++];
  entry->source = strdup(source);
  entry->target = strdup(target);
  entry->target_dir = strdup(target);
  if (entry->source == NULL || entry->target == NULL || entry->target_dir == NULL) fail("strdup");
  char* slash = strrchr(entry->target_dir, '/');
  if (slash != NULL) *(slash == entry->target_dir ? slash + 1 : slash) = 0;
}

// Forgets the newest entry (the write just made synchronously).
static void dropLast(void) {
  struct Entry* last = &entries[--entry_count];
  free(last->path);
  free(last->old_bytes);
  free(last->new_bytes);
}

static int openEntry(const struct Entry* entry) {
  int fd = open(entry->path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat info;
  if (fstat(fd, &info) != 0 || info.st_dev != entry->dev || info.st_ino != entry->ino) {
    close(fd);
    return -1;  // renamed over or removed since: its directory entry counts as durable
  }
  return fd;
}

// Power is lost: every rename into a folder not synced since is moved back
// (SEQD_POWERLOSS_RENAMES=undo), every unsynced write is undone, newest first; in tear mode the
// first half of the last page of the newest one is written again. Then SIGKILL. REQUIRES: `lock`
// held.
static void losePower(void) {
  // Renames first, newest first, so that a file renamed after an unsynced write is found again
  // under the name it was written by.
  for (size_t i = rename_count; i > 0; --i) {
    if (real_rename(renames[i - 1].target, renames[i - 1].source) != 0) fail("undo rename");
  }
  for (size_t i = entry_count; i > 0; --i) {
    const struct Entry* entry = &entries[i - 1];
    int fd = openEntry(entry);
    if (fd < 0) continue;
    if (entry->old_count > 0 && real_pwrite(fd, entry->old_bytes, entry->old_count,
                                            entry->offset) != (ssize_t)entry->old_count) {
      fail("undo pwrite");
    }
    if (ftruncate(fd, entry->size_before) != 0) fail("undo ftruncate");
    close(fd);
  }
  if (tear && entry_count > 0) {
    const struct Entry* last = &entries[entry_count - 1];
    off_t end = last->offset + (off_t)last->bytes;
    off_t page = (end - 1) / kPageBytes * kPageBytes;
    if (page < last->offset) page = last->offset;
    off_t half_end = page + kPageBytes / 2;
    if (half_end > end) half_end = end;
    int fd = openEntry(last);
    if (fd >= 0) {
      size_t count = (size_t)(half_end - page);
      if (real_pwrite(fd, last->new_bytes + (page - last->offset), count, page) != (ssize_t)count) {
        fail("tear pwrite");
      }
      close(fd);
    }
  }
  char line[96];
  int length = snprintf(line, sizeof line, "powerloss shim: power lost, %zu renames moved back\n",
                        rename_count);
  real_write(2, line, (size_t)length);
  syscall(SYS_kill, getpid(), SIGKILL);
  for (;;) pause();
}

// A crash point is reached at path (NULL: a mapping) by a sync or a write; power is lost here
// when it is the chosen one. With SEQD_POWERLOSS_SYNC_SUFFIX only the syncs it names count.
// REQUIRES: `lock`.
static void crashPoint(const char* path, int is_sync) {
  if (sync_suffix[0] != 0 && !(is_sync && path != NULL && endsWith(path, sync_suffix))) return;
  ++points;
  if (count_file[0] != 0) {
    int fd = open(count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      char text[32];
      int length = snprintf(text, sizeof text, "%ld\n", points);
      real_write(fd, text, (size_t)length);
      close(fd);
    }
  }
  if (crash_at > 0 && points == crash_at) losePower();
}

// A write to fd of iov at offset (-1: the file position). `perform` makes the real call.
static ssize_t watchedWrite(int fd, const struct iovec* iov, int count, off_t offset,
                            ssize_t (*perform)(void*), void* call) {
  char path[PATH_MAX];
  if (!watchedPath(fd, path)) return perform(call);
  pthread_mutex_lock(&lock);
  off_t at = offset;
  if (at < 0) {
    at = (fcntl(fd, F_GETFL) & O_APPEND) != 0 ? lseek(fd, 0, SEEK_END) : lseek(fd, 0, SEEK_CUR);
  }
  if (at >= 0) remember(fd, path, iov, count, at);
  crashPoint(path, syncedOnWrite(fd));  // may not return
  ssize_t written = perform(call);
  int saved = errno;
  // A synchronous write makes itself durable, not the file's other unsynced writes.
  if (at >= 0 && syncedOnWrite(fd) && written >= 0) dropLast();
  pthread_mutex_unlock(&lock);
  errno = saved;
  return written;
}

struct Call {
  int fd;
  const void* buffer;
  size_t bytes;
  const struct iovec* iov;
  int count;
  off_t offset;
  int flags;
  int kind;
};

static ssize_t perform(void* opaque) {
  const struct Call* call = opaque;
  switch (call->kind) {
    case 0:
      return real_write(call->fd, call->buffer, call->bytes);
    case 1:
      return real_pwrite(call->fd, call->buffer, call->bytes, call->offset);
    case 2:
      return real_pwrite64(call->fd, call->buffer, call->bytes, call->offset);
    case 3:
      return real_writev(call->fd, call->iov, call->count);
    case 4:
      return real_pwritev(call->fd, call->iov, call->count, call->offset);
    case 5:
      return real_pwritev64(call->fd, call->iov, call->count, call->offset);
    default:
      return real_pwritev2(call->fd, call->iov, call->count, call->offset, call->flags);
  }
}

static ssize_t single(int kind, int fd, const void* buffer, size_t bytes, off_t offset) {
  pthread_once(&once, setUp);
  struct Call call = {fd, buffer, bytes, NULL, 0, offset, 0, kind};
  struct iovec one = {(void*)buffer, bytes};
  return watchedWrite(fd, &one, 1, kind == 0 ? -1 : offset, perform, &call);
}

static ssize_t vector(int kind, int fd, const struct iovec* iov, int count, off_t offset,
                      int flags) {
  pthread_once(&once, setUp);
  struct Call call = {fd, NULL, 0, iov, count, offset, flags, kind};
  return watchedWrite(fd, iov, count, kind == 3 ? -1 : offset, perform, &call);
}

ssize_t write(int fd, const void* buffer, size_t bytes) { return single(0, fd, buffer, bytes, -1); }
ssize_t pwrite(int fd, const void* buffer, size_t bytes, off_t offset) {
  return single(1, fd, buffer, bytes, offset);
}
ssize_t pwrite64(int fd, const void* buffer, size_t bytes, off_t offset) {
  return single(2, fd, buffer, bytes, offset);
}
ssize_t writev(int fd, const struct iovec* iov, int count) {
  return vector(3, fd, iov, count, -1, 0);
}
ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  return vector(4, fd, iov, count, offset, 0);
}
ssize_t pwritev64(int fd, const struct iovec* iov, int count, off_t offset) {
  return vector(5, fd, iov, count, offset, 0);
}
ssize_t pwritev2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
  // offset -1 means the file position, as for writev.
  pthread_once(&once, setUp);
  struct Call call = {fd, NULL, 0, iov, count, offset, flags, 6};
  return watchedWrite(fd, iov, count, offset, perform, &call);
}

static int syncFile(int fd, int (*real)(int)) {
  char path[PATH_MAX];
  if (!watchedPath(fd, path)) return real(fd);
  pthread_mutex_lock(&lock);
  crashPoint(path, 1);  // may not return
  int result = real(fd);
  int saved = errno;
  if (result == 0) {
    forget(fd);
    forgetRenamesInto(path);
  }
  pthread_mutex_unlock(&lock);
  errno = saved;
  return result;
}

int fsync(int fd) {
  pthread_once(&once, setUp);
  return syncFile(fd, real_fsync);
}

int fdatasync(int fd) {
  pthread_once(&once, setUp);
  return syncFile(fd, real_fdatasync);
}

int sync_file_range(int fd, off_t offset, off_t bytes, unsigned int flags) {
  pthread_once(&once, setUp);
  char path[PATH_MAX];
  if (!watchedPath(fd, path)) return real_sync_file_range(fd, offset, bytes, flags);
  // Not a full sync (no metadata, perhaps not every range): a sync point that forgets nothing,
  // so a crash later still loses those writes.
  pthread_mutex_lock(&lock);
  crashPoint(path, 0);
  int result = real_sync_file_range(fd, offset, bytes, flags);
  pthread_mutex_unlock(&lock);
  return result;
}

int msync(void* address, size_t bytes, int flags) {
  pthread_once(&once, setUp);
  if (watched_length == 0 || (flags & MS_SYNC) == 0) return real_msync(address, bytes, flags);
  pthread_mutex_lock(&lock);
  crashPoint(NULL, 1);
  int result = real_msync(address, bytes, flags);
  pthread_mutex_unlock(&lock);
  return result;
}

// A rename under the watched path (SEQD_POWERLOSS_RENAMES=undo): noted when its target is a new
// name, so a power loss before the target's folder is synced moves it back.
static int watchedRename(int source_dir, const char* source, int target_dir, const char* target,
                         unsigned int flags) {
  pthread_once(&once, setUp);
  char source_path[PATH_MAX];
  char target_path[PATH_MAX];
  if (!undo_renames || !absolutePath(source_dir, source, source_path) ||
      !absolutePath(target_dir, target, target_path) || !isWatched(target_path) ||
      !isWatched(source_path)) {
    return real_renameat2(source_dir, source, target_dir, target, flags);
  }
  pthread_mutex_lock(&lock);
  struct stat info;
  const int target_new = lstat(target_path, &info) != 0 && errno == ENOENT;
  int result = real_renameat2(source_dir, source, target_dir, target, flags);
  int saved = errno;
  if (result == 0 && target_new) rememberRename(source_path, target_path);
  pthread_mutex_unlock(&lock);
  errno = saved;
  return result;
}

int rename(const char* source, const char* target) {
  return watchedRename(AT_FDCWD, source, AT_FDCWD, target, 0);
}

int renameat(int source_dir, const char* source, int target_dir, const char* target) {
  return watchedRename(source_dir, source, target_dir, target, 0);
}

int renameat2(int source_dir, const char* source, int target_dir, const char* target,
              unsigned int flags) {
  return watchedRename(source_dir, source, target_dir, target, flags);
}
