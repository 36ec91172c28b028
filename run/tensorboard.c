#include "cbrl/run/tensorboard.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cbrl/errors.h"

uint32_t cbrl_crc32c(const void *data, size_t n) {
  static uint32_t table[256];
  static int ready;
  if (!ready) { /* reflected polynomial 0x82F63B78 */
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = 1;
  }
  const unsigned char *p = data;
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t cbrl_crc32c_masked(const void *data, size_t n) {
  uint32_t crc = cbrl_crc32c(data, n);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int cbrl_tfrecord_write(FILE *f, const void *data, size_t n) {
  unsigned char head[12];
  put_le(head, n, 8);
  put_le(head + 8, cbrl_crc32c_masked(head, 8), 4);
  unsigned char tail[4];
  put_le(tail, cbrl_crc32c_masked(data, n), 4);
  return fwrite(head, 1, 12, f) == 12 && fwrite(data, 1, n, f) == n && fwrite(tail, 1, 4, f) == 4 ? 0 : -1;
}

/* Protobuf encoding: varints, and length-delimited fields. */
static size_t varint(unsigned char *p, uint64_t v) {
  size_t n = 0;
  do {
    p[n] = (unsigned char)(v & 0x7F);
    v >>= 7;
    if (v) p[n] |= 0x80;
    n++;
  } while (v);
  return n;
}

static size_t put_double(unsigned char *p, unsigned char tag, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  p[0] = tag;
  put_le(p + 1, bits, 8);
  return 9;
}

int cbrl_tb_header(FILE *f, double wall_time) {
  unsigned char buf[64];
  size_t n = put_double(buf, 0x09, wall_time); /* 1: wall_time, fixed64 */
  const char *version = "brain.Event:2";
  buf[n++] = 0x1a; /* 3: file_version, length-delimited */
  n += varint(buf + n, strlen(version));
  memcpy(buf + n, version, strlen(version));
  n += strlen(version);
  return cbrl_tfrecord_write(f, buf, n);
}

int cbrl_tb_scalar(FILE *f, double wall_time, int64_t step, const char *tag, float value) {
  unsigned char value_msg[160], summary[176], event[224];
  size_t tl = strlen(tag), nv = 0, ns = 0, ne = 0;
  if (tl > 100) return -1;
  value_msg[nv++] = 0x0a; /* Value.tag */
  nv += varint(value_msg + nv, tl);
  memcpy(value_msg + nv, tag, tl);
  nv += tl;
  value_msg[nv++] = 0x15; /* Value.simple_value, fixed32 */
  uint32_t bits;
  memcpy(&bits, &value, 4);
  put_le(value_msg + nv, bits, 4);
  nv += 4;
  summary[ns++] = 0x0a; /* Summary.value */
  ns += varint(summary + ns, nv);
  memcpy(summary + ns, value_msg, nv);
  ns += nv;
  ne = put_double(event, 0x09, wall_time);
  event[ne++] = 0x10; /* Event.step, varint */
  ne += varint(event + ne, (uint64_t)step);
  event[ne++] = 0x2a; /* Event.summary */
  ne += varint(event + ne, ns);
  memcpy(event + ne, summary, ns);
  ne += ns;
  return cbrl_tfrecord_write(f, event, ne);
}

int cbrl_tb_export(const char *dir, const char *logdir, char *err, size_t err_size) {
  char path[1200];
  snprintf(path, sizeof path, "%s/results.sqlite", dir);
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    snprintf(err, err_size, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return CBRL_EIO;
  }
  if (mkdir(logdir, 0777) != 0 && errno != EEXIST) {
    snprintf(err, err_size, "%s: cannot create: %s", logdir, strerror(errno));
    sqlite3_close(db);
    return CBRL_EIO;
  }
  sqlite3_stmt *runs, *rows;
  if (sqlite3_prepare_v2(db,
                         "SELECT id, algorithm, simulator, lambda, beta, learning_rate, zero_order_c, seed FROM runs"
                         " WHERE status = 'done' ORDER BY id",
                         -1, &runs, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "SELECT iteration, F, f_context, grad_norm FROM metrics WHERE run_id = ?1 ORDER BY iteration",
                         -1, &rows, NULL) != SQLITE_OK) {
    snprintf(err, err_size, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return CBRL_EIO;
  }
  double wall = (double)time(NULL);
  int rc = 0, exported = 0;
  while (!rc && sqlite3_step(runs) == SQLITE_ROW) {
    char name[400];
    int n = snprintf(name, sizeof name, "%s/run%04d_%s%s_lambda%g_beta%g_lr%g", logdir, sqlite3_column_int(runs, 0),
                     sqlite3_column_text(runs, 1),
                     !strcmp((const char *)sqlite3_column_text(runs, 2), "paper-code") ? "-papercode" : "",
                     sqlite3_column_double(runs, 3), sqlite3_column_double(runs, 4), sqlite3_column_double(runs, 5));
    if (sqlite3_column_type(runs, 6) != SQLITE_NULL)
      n += snprintf(name + n, sizeof name - (size_t)n, "_c%g", sqlite3_column_double(runs, 6));
    snprintf(name + n, sizeof name - (size_t)n, "_seed%lld", (long long)sqlite3_column_int64(runs, 7));
    if (mkdir(name, 0777) != 0 && errno != EEXIST) {
      snprintf(err, err_size, "%s: cannot create: %s", name, strerror(errno));
      rc = CBRL_EIO;
      break;
    }
    snprintf(path, sizeof path, "%s/events.out.tfevents.%.0f.cbrl", name, wall);
    FILE *f = fopen(path, "wb");
    if (!f) {
      snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
      rc = CBRL_EIO;
      break;
    }
    int w = cbrl_tb_header(f, wall);
    sqlite3_reset(rows);
    sqlite3_bind_int(rows, 1, sqlite3_column_int(runs, 0));
    static const char *const tags[3] = {"F", "f_sampled_context", "grad_norm"};
    while (!w && sqlite3_step(rows) == SQLITE_ROW) {
      int64_t step = sqlite3_column_int64(rows, 0);
      for (int t = 0; t < 3 && !w; t++)
        if (sqlite3_column_type(rows, 1 + t) != SQLITE_NULL)
          w = cbrl_tb_scalar(f, wall, step, tags[t], (float)sqlite3_column_double(rows, 1 + t));
    }
    if (fclose(f) != 0 || w) {
      snprintf(err, err_size, "%s: write failed", path);
      rc = CBRL_EIO;
    }
    exported++;
  }
  sqlite3_finalize(runs);
  sqlite3_finalize(rows);
  sqlite3_close(db);
  return rc ? rc : exported;
}
