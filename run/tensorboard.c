#include "cbrl/run/tensorboard.h"
#include "cbrl/run/store.h"
#include "cbrl/run/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cbrl/errors.h"
#include "cbrl/run/env_registry.h"

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

/* ---- a small protobuf writer: the Event, Summary and hparams messages need only varints,
   doubles, floats and length-delimited fields ---------------------------------------------- */

typedef struct pb {
  unsigned char buf[4096];
  size_t n;
  int overflow;
} pb;

static void pb_raw(pb *b, const void *data, size_t n) {
  if (b->overflow || b->n + n > sizeof b->buf) {
    b->overflow = 1;
    return;
  }
  memcpy(b->buf + b->n, data, n);
  b->n += n;
}

static void pb_varint(pb *b, uint64_t v) {
  unsigned char tmp[10];
  pb_raw(b, tmp, varint(tmp, v));
}

static void pb_key(pb *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static void pb_bytes(pb *b, int field, const void *data, size_t n) {
  pb_key(b, field, 2);
  pb_varint(b, n);
  pb_raw(b, data, n);
}

static void pb_string(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

static void pb_message(pb *b, int field, const pb *m) {
  if (m->overflow) b->overflow = 1;
  pb_bytes(b, field, m->buf, m->n);
}

static void pb_double(pb *b, int field, double v) {
  unsigned char tmp[8];
  uint64_t bits;
  memcpy(&bits, &v, 8);
  put_le(tmp, bits, 8);
  pb_key(b, field, 1);
  pb_raw(b, tmp, 8);
}

/* Writes Event{wall_time, step, summary} to f. */
static int write_event(FILE *f, double wall_time, int64_t step, const pb *summary) {
  pb e = {.n = 0};
  pb_double(&e, 1, wall_time);
  pb_key(&e, 2, 0);
  pb_varint(&e, (uint64_t)step);
  pb_message(&e, 5, summary);
  return e.overflow ? -1 : cbrl_tfrecord_write(f, e.buf, e.n);
}

/* One hparams plugin summary: Summary{value{tag, metadata{plugin_data{"hparams", content}},
   tensor}}, where content is an HParamsPluginData (version 0) holding `data` in field
   `which` (3: session_start_info, 4: session_end_info) and the tensor a float scalar 0, as
   TensorBoard's own hparams summaries carry. */
static int write_hparams(FILE *f, double wall_time, const char *tag, int which, const pb *data) {
  pb content = {.n = 0}, plugin = {.n = 0}, meta = {.n = 0}, tensor = {.n = 0}, value = {.n = 0}, summary = {.n = 0};
  pb_key(&content, 1, 0);
  pb_varint(&content, 0);
  pb_message(&content, which, data);
  pb_string(&plugin, 1, "hparams");
  pb_message(&plugin, 2, &content);
  pb_message(&meta, 1, &plugin);
  pb_key(&tensor, 1, 0); /* dtype DT_FLOAT */
  pb_varint(&tensor, 1);
  pb_bytes(&tensor, 2, "", 0); /* tensor_shape: a scalar */
  static const unsigned char zero[4] = {0, 0, 0, 0};
  pb_bytes(&tensor, 5, zero, 4); /* float_val, packed */
  pb_string(&value, 1, tag);
  pb_message(&value, 8, &tensor);
  pb_message(&value, 9, &meta);
  pb_message(&summary, 1, &value);
  return write_event(f, wall_time, 0, &summary);
}

int cbrl_tb_hparams_start(FILE *f, double wall_time, const cbrl_tb_hparam *hparams, int n) {
  pb start = {.n = 0};
  for (int i = 0; i < n; i++) {
    pb entry = {.n = 0}, v = {.n = 0};
    if (hparams[i].text) pb_string(&v, 3, hparams[i].text); /* google.protobuf.Value.string_value */
    else pb_double(&v, 2, hparams[i].number);              /* number_value */
    pb_string(&entry, 1, hparams[i].name);
    pb_message(&entry, 2, &v);
    pb_message(&start, 1, &entry); /* SessionStartInfo.hparams, a map */
  }
  pb_double(&start, 5, wall_time); /* start_time_secs */
  return write_hparams(f, wall_time, "_hparams_/session_start_info", 3, &start);
}

int cbrl_tb_hparams_end(FILE *f, double wall_time, int success) {
  pb end = {.n = 0};
  pb_key(&end, 1, 0);
  pb_varint(&end, success ? 1 : 2); /* STATUS_SUCCESS, STATUS_FAILURE */
  pb_double(&end, 2, wall_time);
  return write_hparams(f, wall_time, "_hparams_/session_end_info", 4, &end);
}

/* ---- one TensorBoard run per sweep run ------------------------------------------------ */

/* mkdir -p. */
static int make_dirs(const char *path) {
  char buf[1024];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

int cbrl_tb_prepare(const char *logdir, char *err, size_t err_size) {
  /* Whole or refused (issue 13 class 6): make_dirs would read past an empty path. */
  int rc = cbrl_path_check("tensorboard", logdir, err, err_size);
  if (rc) return rc;
  if (make_dirs(logdir)) {
    snprintf(err, err_size, "%s: cannot create: %s", logdir, strerror(errno));
    return CBRL_EIO;
  }
  return 0;
}

int cbrl_tb_run_open(cbrl_tb_writer *w, const char *logdir, const cbrl_tb_run *r, double wall_time, char *err,
                     size_t err_size) {
  char name[900], path[1100];
  memset(w, 0, sizeof *w);
  int n = snprintf(name, sizeof name, "%s/run%04d_%s%s_lambda%g", logdir, r->id, r->algorithm,
                   r->simulator && !strcmp(r->simulator, "paper-code") ? "-papercode" : "", r->lambda);
  if (r->with_beta) n += snprintf(name + n, sizeof name - (size_t)n, "_beta%g", r->beta);
  n += snprintf(name + n, sizeof name - (size_t)n, "_lr%g", r->learning_rate);
  if (!isnan(r->zero_order_c)) n += snprintf(name + n, sizeof name - (size_t)n, "_c%g", r->zero_order_c);
  snprintf(name + n, sizeof name - (size_t)n, "_seed%ld", r->seed);
  if (make_dirs(name)) {
    snprintf(err, err_size, "%s: cannot create: %s", name, strerror(errno));
    return CBRL_EIO;
  }
  /* One event file per run: what an earlier export or attempt wrote is replaced, never added
     to (TensorBoard would show every file's points). */
  DIR *d = opendir(name);
  if (d) {
    for (struct dirent *e; (e = readdir(d));) {
      size_t len = strlen(e->d_name);
      if (!strncmp(e->d_name, "events.out.tfevents.", 20) && len > 5 && !strcmp(e->d_name + len - 5, ".cbrl")) {
        snprintf(path, sizeof path, "%s/%s", name, e->d_name);
        remove(path);
      }
    }
    closedir(d);
  }
  snprintf(path, sizeof path, "%s/events.out.tfevents.%.0f.cbrl", name, floor(wall_time));
  if (!(w->f = fopen(path, "wb"))) {
    snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
    return CBRL_EIO;
  }
  snprintf(w->path, sizeof w->path, "%s", path);
  cbrl_tb_hparam hp[8] = {{"env", r->env, 0},           {"algorithm", r->algorithm, 0},
                          {"simulator", r->simulator, 0}, {"lambda", NULL, r->lambda},
                          {"learning_rate", NULL, r->learning_rate}, {"seed", NULL, (double)r->seed}};
  int k = 6;
  if (r->with_beta) hp[k++] = (cbrl_tb_hparam){"beta", NULL, r->beta};
  if (!isnan(r->zero_order_c)) hp[k++] = (cbrl_tb_hparam){"zero_order_c", NULL, r->zero_order_c};
  if (cbrl_tb_header(w->f, wall_time) || cbrl_tb_hparams_start(w->f, wall_time, hp, k)) w->failed = 1;
  return 0;
}

int cbrl_tb_run_row(cbrl_tb_writer *w, double wall_time, int64_t step, double F, double f_context,
                    double grad_norm) {
  static const char *const tags[3] = {"F", "f_sampled_context", "grad_norm"};
  const double v[3] = {F, f_context, grad_norm};
  for (int t = 0; t < 3 && !w->failed; t++)
    if (isfinite(v[t]) && cbrl_tb_scalar(w->f, wall_time, step, tags[t], (float)v[t])) w->failed = 1;
  return w->failed ? -1 : 0;
}

int cbrl_tb_run_close(cbrl_tb_writer *w, double wall_time, int success, char *err, size_t err_size) {
  if (!w->f) return 0;
  if (!w->failed && cbrl_tb_hparams_end(w->f, wall_time, success)) w->failed = 1;
  /* A full disk shows at the flush or the fsync as often as at a write (issue 13 class 10). */
  if (!w->failed && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)) w->failed = 1;
  int e = errno;
  if (fclose(w->f) != 0 && !w->failed) w->failed = 1, e = errno;
  w->f = NULL;
  if (w->failed) {
    /* The file is written live (TensorBoard shows a run as it goes), so a failed one is removed
       rather than left partial; the run itself is in the store. */
    remove(w->path);
    snprintf(err, err_size, "%s: write failed%s%s (the file is removed)", w->path, e ? ": " : "", e ? strerror(e) : "");
    return CBRL_EIO;
  }
  return 0;
}

int cbrl_tb_export(const char *dir, const char *logdir, char *err, size_t err_size) {
  char path[1200];
  snprintf(path, sizeof path, "%s/results.sqlite", dir);
  sqlite3 *db;
  int rc = cbrl_store_open_read(path, &db, err, err_size);
  if (rc) return rc;
  rc = cbrl_tb_prepare(logdir, err, err_size);
  if (rc) {
    sqlite3_close(db);
    return rc;
  }
  /* Stores written before rows had wall times: the store's own modification time. */
  struct stat st_db;
  double fallback = stat(path, &st_db) == 0 ? (double)st_db.st_mtime : (double)time(NULL);
  sqlite3_stmt *check;
  int have_wall = sqlite3_prepare_v2(db, "SELECT wall_time FROM metrics LIMIT 0", -1, &check, NULL) == SQLITE_OK;
  sqlite3_finalize(check);
  sqlite3_stmt *runs, *rows;
  if (sqlite3_prepare_v2(db,
                         "SELECT id, env, algorithm, simulator, lambda, beta, learning_rate, zero_order_c, seed FROM runs"
                         " WHERE status = 'done' ORDER BY id",
                         -1, &runs, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         have_wall ? "SELECT iteration, F, f_context, grad_norm, wall_time FROM metrics WHERE run_id = ?1"
                                     " ORDER BY iteration"
                                   : "SELECT iteration, F, f_context, grad_norm, NULL FROM metrics WHERE run_id = ?1"
                                     " ORDER BY iteration",
                         -1, &rows, NULL) != SQLITE_OK) {
    snprintf(err, err_size, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return CBRL_EIO;
  }
  int exported = 0;
  while (!rc && sqlite3_step(runs) == SQLITE_ROW) {
    const char *env = (const char *)sqlite3_column_text(runs, 1);
    const cbrl_env *e = cbrl_env_find(env);
    cbrl_tb_run r = {sqlite3_column_int(runs, 0), env, (const char *)sqlite3_column_text(runs, 2),
                     (const char *)sqlite3_column_text(runs, 3),
                     sqlite3_column_type(runs, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(runs, 4),
                     sqlite3_column_double(runs, 5), sqlite3_column_double(runs, 6),
                     sqlite3_column_type(runs, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(runs, 7),
                     (long)sqlite3_column_int64(runs, 8), !e || cbrl_env_takes(e, "beta")};
    sqlite3_reset(rows);
    sqlite3_bind_int(rows, 1, r.id);
    /* The run's first wall time names its file and stamps its hparams. */
    double first = fallback, last = fallback;
    int have_row = sqlite3_step(rows) == SQLITE_ROW;
    if (have_row && sqlite3_column_type(rows, 4) != SQLITE_NULL) first = sqlite3_column_double(rows, 4);
    cbrl_tb_writer w;
    if ((rc = cbrl_tb_run_open(&w, logdir, &r, first, err, err_size))) break;
    for (; have_row; have_row = sqlite3_step(rows) == SQLITE_ROW) {
      if (sqlite3_column_type(rows, 4) != SQLITE_NULL) last = sqlite3_column_double(rows, 4);
      cbrl_tb_run_row(&w, last, sqlite3_column_int64(rows, 0),
                      sqlite3_column_type(rows, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(rows, 1),
                      sqlite3_column_type(rows, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(rows, 2),
                      sqlite3_column_type(rows, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(rows, 3));
    }
    rc = cbrl_tb_run_close(&w, last, 1, err, err_size);
    exported++;
  }
  sqlite3_finalize(runs);
  sqlite3_finalize(rows);
  sqlite3_close(db);
  return rc ? rc : exported;
}
