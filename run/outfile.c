/* Checked paths and files that appear whole or not at all (include/cbrl/run/outfile.h). */
#include "cbrl/run/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbrl/errors.h"

int cbrl_path_check(const char *what, const char *path, char *err, size_t err_size) {
  size_t n = path ? strlen(path) : 0;
  if (!n) {
    snprintf(err, err_size, "%s: the path is empty", what);
    return CBRL_EINVAL;
  }
  if (n > CBRL_PATH_MAX) {
    snprintf(err, err_size, "%s: the path is %zu bytes long, longer than the limit of %d ('%.40s...')", what, n,
             CBRL_PATH_MAX, path);
    return CBRL_EINVAL;
  }
  for (const char *c = path; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) {
      snprintf(err, err_size, "%s: the path contains a control character (byte %zu)", what, (size_t)(c - path) + 1);
      return CBRL_EINVAL;
    }
  return 0;
}

int cbrl_file_temp(const char *path, char *tmp, size_t tmp_size, char *err, size_t err_size) {
  if ((size_t)snprintf(tmp, tmp_size, "%s.tmp-XXXXXX", path) >= tmp_size) {
    snprintf(err, err_size, "%.200s...: the path is longer than the limit of %d bytes", path, CBRL_PATH_MAX);
    return CBRL_EINVAL;
  }
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
    return CBRL_EIO;
  }
  fchmod(fd, 0644);
  close(fd);
  return 0;
}

int cbrl_file_commit(const char *tmp, const char *path, char *err, size_t err_size) {
  int fd = open(tmp, O_RDONLY);
  int bad = fd < 0 || fsync(fd) != 0;
  int e = errno;
  if (fd >= 0) close(fd);
  if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
  if (bad) {
    unlink(tmp);
    snprintf(err, err_size, "%s: cannot write: %s", path, strerror(e));
    return CBRL_EIO;
  }
  return 0;
}

int cbrl_outfile_open(cbrl_outfile *o, const char *path, const char *mode, char *err, size_t err_size) {
  memset(o, 0, sizeof *o);
  if (strlen(path) >= sizeof o->path) {
    snprintf(err, err_size, "%.200s...: the path is longer than the limit of %d bytes", path, CBRL_PATH_MAX);
    return CBRL_EINVAL;
  }
  snprintf(o->path, sizeof o->path, "%s", path);
  int rc = cbrl_file_temp(path, o->tmp, sizeof o->tmp, err, err_size);
  if (rc) {
    o->tmp[0] = 0;
    return rc;
  }
  if (!(o->f = fopen(o->tmp, mode))) {
    snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
    unlink(o->tmp);
    o->tmp[0] = 0;
    return CBRL_EIO;
  }
  return 0;
}

int cbrl_outfile_commit(cbrl_outfile *o, char *err, size_t err_size) {
  if (!o->f) {
    snprintf(err, err_size, "%s: cannot write: not open", o->path);
    return CBRL_EIO;
  }
  /* A full disk shows at the flush or the fsync as often as at a write: check each. */
  int bad = fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0;
  int e = errno ? errno : EIO;
  if (fclose(o->f) != 0 && !bad) bad = 1, e = errno;
  o->f = NULL;
  if (!bad && rename(o->tmp, o->path) != 0) bad = 1, e = errno;
  if (bad) {
    unlink(o->tmp);
    o->tmp[0] = 0;
    snprintf(err, err_size, "%s: cannot write: %s", o->path, strerror(e));
    return CBRL_EIO;
  }
  o->tmp[0] = 0;
  return 0;
}

void cbrl_outfile_abort(cbrl_outfile *o) {
  if (o->f) fclose(o->f);
  o->f = NULL;
  if (o->tmp[0]) unlink(o->tmp);
  o->tmp[0] = 0;
}

int cbrl_outfile_write(const char *path, const void *data, size_t len, char *err, size_t err_size) {
  cbrl_outfile o;
  int rc = cbrl_outfile_open(&o, path, "wb", err, err_size);
  if (rc) return rc;
  if (len && fwrite(data, 1, len, o.f) != len) {
    int e = errno;
    cbrl_outfile_abort(&o);
    snprintf(err, err_size, "%s: cannot write: %s", path, strerror(e ? e : EIO));
    return CBRL_EIO;
  }
  return cbrl_outfile_commit(&o, err, err_size);
}
