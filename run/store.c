/* The results store. Schema 2 keeps environment metrics out of the generic metrics table, in
   extra_metrics(run_id, iteration, name, value); schema 1 had them as eight columns of
   metrics, which an open for writing moves into extra_metrics. */
#include "cbrl/run/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbrl/errors.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS sweep(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runs("
    " id INTEGER PRIMARY KEY, algorithm TEXT NOT NULL, env TEXT NOT NULL, simulator TEXT NOT NULL,"
    " lambda REAL, beta REAL, learning_rate REAL, zero_order_c REAL, seed INTEGER NOT NULL,"
    " config TEXT NOT NULL, status TEXT NOT NULL, error TEXT, iterations INTEGER, env_steps INTEGER,"
    " final_F REAL, window_F REAL, window_f_sampled REAL, wall_seconds REAL, cpu_seconds REAL, x TEXT,"
    " clip_active REAL);"
    "CREATE TABLE IF NOT EXISTS metrics("
    " run_id INTEGER NOT NULL, iteration INTEGER NOT NULL, context INTEGER, F REAL, f_context REAL,"
    " grad_norm REAL, env_steps INTEGER, follower_iterations INTEGER, follower_products INTEGER,"
    " follower_samples INTEGER, level INTEGER, env_steps_total INTEGER, follower_samples_total INTEGER,"
    " PRIMARY KEY(run_id, iteration)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS extra_metrics("
    " run_id INTEGER NOT NULL, iteration INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,"
    " PRIMARY KEY(run_id, iteration, name)) WITHOUT ROWID;";

/* Metrics columns added after the first stores were written (NULL for their old rows), with
   their types: x is the iterate x_t as dim little-endian doubles, kept on thinned rows only. */
#define N_ADDED 6
static const char *const added[N_ADDED] = {"follower_samples", "level", "env_steps_total", "follower_samples_total",
                                           "wall_time", "x"};
static const char *const added_type[N_ADDED] = {"INTEGER", "INTEGER", "INTEGER", "INTEGER", "REAL", "BLOB"};

/* Schema 1's environment columns of metrics: the tax-design report of that time, under the
   names its report still uses, so the migrated rows read as new ones. */
static const char *const legacy_extras[8] = {"income_tax", "vat1", "vat2", "vat3", "household_value",
                                             "household_spread", "revenue", "assets"};

/* Which of the names are columns of metrics: bit i for names[i]. */
static int metrics_columns(sqlite3 *db, const char *const *names, int n, unsigned *have) {
  sqlite3_stmt *st;
  *have = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA table_info(metrics)", -1, &st, NULL) != SQLITE_OK) return -1;
  while (sqlite3_step(st) == SQLITE_ROW)
    for (int i = 0; i < n; i++)
      if (!strcmp((const char *)sqlite3_column_text(st, 1), names[i])) *have |= 1u << i;
  sqlite3_finalize(st);
  return 0;
}

/* Brings an older store to schema 2: the added columns, and the environment columns moved into
   extra_metrics (in one transaction, so a failed move leaves the store as it was). */
static int migrate(sqlite3 *db) {
  unsigned have;
  /* runs.clip_active came after schema 2 (NULL for older runs). */
  sqlite3_stmt *probe;
  if (sqlite3_prepare_v2(db, "SELECT clip_active FROM runs LIMIT 0", -1, &probe, NULL) == SQLITE_OK)
    sqlite3_finalize(probe);
  else if (sqlite3_exec(db, "ALTER TABLE runs ADD COLUMN clip_active REAL", NULL, NULL, NULL) != SQLITE_OK)
    return -1;
  if (metrics_columns(db, added, N_ADDED, &have)) return -1;
  for (int i = 0; i < N_ADDED; i++) {
    if (have & (1u << i)) continue;
    char sql[128];
    snprintf(sql, sizeof sql, "ALTER TABLE metrics ADD COLUMN %s %s", added[i], added_type[i]);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) return -1;
  }
  if (metrics_columns(db, legacy_extras, 8, &have)) return -1;
  if (!have) return 0;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return -1;
  for (int i = 0; i < 8; i++) {
    if (!(have & (1u << i))) continue;
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT OR REPLACE INTO extra_metrics(run_id, iteration, name, value) SELECT run_id, iteration, '%s', %s"
             " FROM metrics WHERE %s IS NOT NULL; ALTER TABLE metrics DROP COLUMN %s",
             legacy_extras[i], legacy_extras[i], legacy_extras[i], legacy_extras[i]);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return -1;
    }
  }
  return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int cbrl_store_extras_source(sqlite3 *db, char *buf, size_t size) {
  unsigned have;
  sqlite3_stmt *st;
  int table = sqlite3_prepare_v2(db, "SELECT 1 FROM extra_metrics LIMIT 0", -1, &st, NULL) == SQLITE_OK;
  sqlite3_finalize(st);
  if (metrics_columns(db, legacy_extras, 8, &have)) return CBRL_EIO;
  size_t n = (size_t)snprintf(buf, size, "(SELECT run_id, iteration, name, value FROM %s",
                              table ? "extra_metrics" : "(SELECT 0 AS run_id, 0 AS iteration, '' AS name, 0.0 AS value"
                                                        " WHERE 0)");
  for (int i = 0; i < 8 && n < size; i++)
    if (have & (1u << i))
      n += (size_t)snprintf(buf + n, size - n,
                            " UNION ALL SELECT run_id, iteration, '%s', %s FROM metrics WHERE %s IS NOT NULL",
                            legacy_extras[i], legacy_extras[i], legacy_extras[i]);
  if (n < size) n += (size_t)snprintf(buf + n, size - n, ")");
  return n < size ? 0 : CBRL_ERANGE;
}

/* What is really wrong, from SQLite's primary result code (issue 13 class 7): a store that is
   read-only, locked or on a full disk is not "not a store". */
static const char *store_trouble(int code) {
  switch (code & 0xff) {
    case SQLITE_READONLY: return "the store is read-only (its file or directory cannot be written)";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "the store is locked by another process";
    case SQLITE_FULL: return "the disk is full";
    case SQLITE_NOTADB: return "not a cbrl results store (not an SQLite database)";
    case SQLITE_CORRUPT: return "the store is damaged";
    case SQLITE_CANTOPEN: return "cannot open the store";
    case SQLITE_PERM:
    case SQLITE_AUTH: return "permission denied";
    case SQLITE_IOERR: return "an input/output error";
    case SQLITE_NOMEM: return "out of memory";
    default: return NULL;
  }
}

int cbrl_store_explain(sqlite3 *db, const char *path, const char *doing, char *err, size_t err_size) {
  int code = db ? sqlite3_extended_errcode(db) : SQLITE_CANTOPEN;
  const char *what = store_trouble(code);
  /* SQLite reports a full disk met through its WAL index as a plain I/O error: the system's
     errno says which. */
  int sys = db ? sqlite3_system_errno(db) : 0;
  if (sys == ENOSPC || sys == EDQUOT) what = "the disk is full";
  else if (sys == EROFS) what = "the store is on a read-only file system";
  else if (sys == EACCES && (code & 0xff) != SQLITE_OK) what = "permission denied";
  if (what) snprintf(err, err_size, "%s: %s%s%s (%s)", path, doing ? doing : "", doing ? ": " : "", what,
                     db ? sqlite3_errmsg(db) : "cannot open");
  else snprintf(err, err_size, "%s: %s%s%s", path, doing ? doing : "", doing ? ": " : "", db ? sqlite3_errmsg(db) : "?");
  return (code & 0xff) == SQLITE_NOMEM ? CBRL_ENOMEM : CBRL_EIO;
}

static int cbrl_store_check_pages(sqlite3 *db, const char *path, char *err, size_t err_size);

int cbrl_store_check(sqlite3 *db, const char *path, char *err, size_t err_size) {
  int rc = cbrl_store_check_pages(db, path, err, err_size);
  if (rc) return rc;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT id, status FROM runs LIMIT 0", -1, &st, NULL) != SQLITE_OK) {
    int code = sqlite3_extended_errcode(db) & 0xff;
    if (code == SQLITE_ERROR) {
      snprintf(err, err_size, "%s: not a cbrl results store (an SQLite database without cbrl's runs table)", path);
      return CBRL_EINVAL;
    }
    return cbrl_store_explain(db, path, "reading the store", err, err_size);
  }
  sqlite3_finalize(st);
  return 0;
}

static int cbrl_store_check_pages(sqlite3 *db, const char *path, char *err, size_t err_size) {
  sqlite3_stmt *st;
  /* quick_check reads every page and checks its structure (not index contents): a damaged
     store fails before any of it is read, so no command prints part of it with exit 0. */
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
    return cbrl_store_explain(db, path, "checking the store", err, err_size);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return cbrl_store_explain(db, path, "checking the store", err, err_size);
  }
  const char *v = (const char *)sqlite3_column_text(st, 0);
  if (!v || strcmp(v, "ok")) {
    snprintf(err, err_size, "%s: the store is damaged (integrity check: %.200s)", path, v ? v : "?");
    for (char *c = err; *c; c++) /* one line: SQLite's report spans several */
      if (*c == '\n') *c = ' ';
    sqlite3_finalize(st);
    return CBRL_EIO;
  }
  sqlite3_finalize(st);
  return 0;
}

/* path as an SQLite URI filename: %, ? and # escaped. */
static int uri_of(const char *path, const char *query, char *out, size_t size) {
  size_t n = (size_t)snprintf(out, size, "file:");
  for (const char *c = path; *c && n + 4 < size; c++) {
    if (*c == '%' || *c == '?' || *c == '#') n += (size_t)snprintf(out + n, size - n, "%%%02X", (unsigned char)*c);
    else out[n++] = *c;
  }
  if (n + strlen(query) + 1 >= size) return -1;
  snprintf(out + n, size - n, "%s", query);
  return 0;
}

int cbrl_store_open_read(const char *path, sqlite3 **db, char *err, size_t err_size) {
  struct stat sb;
  *db = NULL;
  if (stat(path, &sb) != 0) {
    snprintf(err, err_size, "%s: no results store: %s", path, strerror(errno));
    return CBRL_EINVAL;
  }
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, err_size, "%s: not a cbrl results store (not a regular file)", path);
    return CBRL_EINVAL;
  }
  /* A store in a directory cbrl cannot write (a read-only mount, a shared archive) is opened
     immutable: SQLite then needs no -wal or -shm file beside it. A sweep checkpoints its WAL
     when it closes, so a finished store holds everything in its main file. */
  char dir[1200], uri[2600];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) slash == dir ? (void)(dir[1] = 0) : (void)(*slash = 0);
  else snprintf(dir, sizeof dir, ".");
  int immutable = access(dir, W_OK) != 0 || access(path, W_OK) != 0;
  if (uri_of(path, immutable ? "?mode=ro&immutable=1" : "?mode=ro", uri, sizeof uri)) {
    snprintf(err, err_size, "%.200s...: the path is too long", path);
    return CBRL_EINVAL;
  }
  if (sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
    int rc = cbrl_store_explain(*db, path, "cannot open the results store", err, err_size);
    sqlite3_close(*db);
    *db = NULL;
    return rc;
  }
  sqlite3_busy_timeout(*db, 10000);
  int rc = cbrl_store_check(*db, path, err, err_size);
  if (rc) {
    sqlite3_close(*db);
    *db = NULL;
  }
  return rc;
}

/* Whether path names one of the store's files: the same file (through a hard or a symbolic
   link), or the store's -wal, -shm or -journal name in its directory even where that file does
   not exist yet. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void dir_and_base(const char *path, char *dir, size_t size, const char **base) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, size, ".");
    *base = path;
  } else {
    snprintf(dir, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    *base = slash + 1;
  }
}

int cbrl_store_guard_output(const char *store, const char *out, char *err, size_t err_size) {
  static const char *const suffix[4] = {"", "-wal", "-shm", "-journal"};
  char sdir[1200], odir[1200], file[1300];
  const char *sbase, *obase;
  dir_and_base(store, sdir, sizeof sdir, &sbase);
  dir_and_base(out, odir, sizeof odir, &obase);
  int same_dir = same_file(sdir, odir);
  for (int i = 0; i < 4; i++) {
    snprintf(file, sizeof file, "%s%s", store, suffix[i]);
    char name[1300];
    snprintf(name, sizeof name, "%s%s", sbase, suffix[i]);
    if (same_file(file, out) || (same_dir && !strcmp(obase, name))) {
      snprintf(err, err_size, "%s: is the results store%s %s (or a link to it): refusing to write over it", out,
               suffix[i][0] ? "'s file" : "", file);
      return CBRL_EINVAL;
    }
  }
  return 0;
}

/* SQLite's failure as a message and a code: CBRL_ENOMEM when SQLite ran out of memory (a failed
   computation, not a damaged store), CBRL_EIO otherwise. */
static int db_fail(cbrl_store *s, char *err, size_t n, const char *what) {
  snprintf(err, n, "%s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : "cannot open");
  return s->db && sqlite3_errcode(s->db) == SQLITE_NOMEM ? CBRL_ENOMEM : CBRL_EIO;
}

int cbrl_store_open(cbrl_store *s, const char *path, int create, char *err, size_t err_size) {
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
    int rc = cbrl_store_explain(s->db, path, "cannot open the results store", err, err_size);
    cbrl_store_close(s);
    return rc;
  }
  sqlite3_busy_timeout(s->db, 10000);
  /* A damaged store is refused before anything is added to it (issue 13 class 7): --resume
     on it fails with exit 1 instead of completing a sweep whose earlier runs are lost. */
  struct stat sb;
  int rc = stat(path, &sb) == 0 && sb.st_size > 0 ? cbrl_store_check_pages(s->db, path, err, err_size) : 0;
  if (rc) {
    cbrl_store_close(s);
    return rc;
  }
  if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
    rc = cbrl_store_explain(s->db, path, "preparing the results store", err, err_size);
    cbrl_store_close(s);
    return rc;
  }
  if (migrate(s->db)) {
    int rc = db_fail(s, err, err_size, "cannot bring the store to the current schema");
    cbrl_store_close(s);
    return rc;
  }
  return 0;
}

void cbrl_store_close(cbrl_store *s) {
  if (s->db) sqlite3_close(s->db);
  s->db = NULL;
}

/* The fields whose lines differ between two canonical configs ("key: value" per line), as
   "a (stored X, now Y), b (...)" into out. */
static void config_diff(const char *stored, const char *now, char *out, size_t size) {
  size_t n = 0;
  out[0] = 0;
  for (int pass = 0; pass < 2; pass++) {
    const char *a = pass ? now : stored, *b = pass ? stored : now;
    for (const char *line = a; *line;) {
      const char *end = strchr(line, '\n'), *colon = strchr(line, ':');
      if (!end) end = line + strlen(line);
      if (colon && colon < end) {
        size_t klen = (size_t)(colon - line);
        /* The same key in b, and its line. */
        const char *other = NULL;
        for (const char *l = b; *l;) {
          const char *e = strchr(l, '\n');
          if (!e) e = l + strlen(l);
          if ((size_t)(e - l) > klen && !strncmp(l, line, klen) && l[klen] == ':') other = l;
          if (other) break;
          l = *e ? e + 1 : e;
        }
        const char *oend = other ? strchr(other, '\n') : NULL;
        if (other && !oend) oend = other + strlen(other);
        int same = other && oend - other == end - line && !strncmp(other, line, (size_t)(end - line));
        if (!same && !(pass && other)) { /* each changed key once, from the stored side */
          const char *sv = pass ? NULL : colon + 2, *nv = pass ? colon + 2 : (other ? other + klen + 2 : NULL);
          const char *se = pass ? NULL : end, *ne = pass ? end : oend;
          if (n < size)
            n += (size_t)snprintf(out + n, size - n, "%s%.*s (stored %.*s, now %.*s)", n ? ", " : "", (int)klen, line,
                                  sv ? (int)(se - sv) : 7, sv ? sv : "not set", nv ? (int)(ne - nv) : 7,
                                  nv ? nv : "not set");
        }
      }
      line = *end ? end + 1 : end;
    }
  }
  if (n >= size && size > 4) strcpy(out + size - 4, "...");
}

int cbrl_store_read_config(cbrl_store *s, char **canonical) {
  sqlite3_stmt *st;
  *canonical = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT value FROM sweep WHERE key='config'", -1, &st, NULL) != SQLITE_OK)
    return CBRL_EIO;
  int rc = 0;
  if (sqlite3_step(st) == SQLITE_ROW && !(*canonical = strdup((const char *)sqlite3_column_text(st, 0))))
    rc = CBRL_ENOMEM;
  sqlite3_finalize(st);
  return rc;
}

int cbrl_store_config(cbrl_store *s, const char *canonical, int resume, char *err, size_t err_size) {
  sqlite3_stmt *st;
  char *stored = NULL;
  if (cbrl_store_read_config(s, &stored)) return db_fail(s, err, err_size, "reading the sweep config");
  int have = stored != NULL;
  int same = have && !strcmp(stored, canonical);
  if (have && !resume) {
    free(stored);
    snprintf(err, err_size, "%s already holds a sweep: add --resume to complete it, or choose another --out", s->path);
    return CBRL_EINVAL;
  }
  if (have && !same) {
    char diff[768];
    config_diff(stored, canonical, diff, sizeof diff);
    free(stored);
    snprintf(err, err_size, "%s: --resume refused: the config differs from the stored sweep's in %s", s->path, diff);
    return CBRL_EINVAL;
  }
  free(stored);
  if (have) return 0;
  if (sqlite3_prepare_v2(s->db, "INSERT INTO sweep(key, value) VALUES('config', ?1), ('version', ?2)", -1, &st,
                         NULL) != SQLITE_OK)
    return db_fail(s, err, err_size, "writing the sweep config");
  sqlite3_bind_text(st, 1, canonical, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, cbrl_version_string(), -1, SQLITE_STATIC);
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, err, err_size, "writing the sweep config");
  sqlite3_finalize(st);
  return rc;
}

/* FNV-1a, 64 bits, over the file's bytes: a change of the problem, not an adversary, is what
   it must see. */
static int file_hash(const char *path, char *out, size_t size) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint64_t h = 1469598103934665603ull;
  unsigned char buf[65536];
  size_t n, total = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211ull;
    total += n;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) return -1;
  snprintf(out, size, "fnv1a64:%016llx (%zu bytes)", (unsigned long long)h, total);
  return 0;
}

int cbrl_store_problem(cbrl_store *s, const char *problem_path, int record, char *err, size_t err_size) {
  char now[96];
  if (!problem_path || !problem_path[0]) return 0;
  if (file_hash(problem_path, now, sizeof now)) {
    snprintf(err, err_size, "%s: cannot read the problem file: %s", problem_path, strerror(errno));
    return CBRL_EINVAL;
  }
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT value FROM sweep WHERE key = 'problem_hash'", -1, &st, NULL) != SQLITE_OK)
    return db_fail(s, err, err_size, "reading the problem's hash");
  char stored[96] = "";
  int have = sqlite3_step(st) == SQLITE_ROW;
  if (have) snprintf(stored, sizeof stored, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  if (have && strcmp(stored, now)) {
    snprintf(err, err_size, "%s: --resume refused: the problem file %s changed since the sweep began (stored %s, now"
             " %s); one store holds one problem: restore the file or choose another --out", s->path, problem_path,
             stored, now);
    return CBRL_EINVAL;
  }
  if (have || !record) return 0;
  /* A new sweep, or one stored before the hash was kept: from now on the problem is fixed. */
  if (sqlite3_prepare_v2(s->db, "INSERT INTO sweep(key, value) VALUES('problem_hash', ?1)", -1, &st, NULL) != SQLITE_OK)
    return db_fail(s, err, err_size, "writing the problem's hash");
  sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, err, err_size, "writing the problem's hash");
  sqlite3_finalize(st);
  return rc;
}

int cbrl_store_renumber(cbrl_store *s, const int *new_id, int n_old, const char *canonical, char *err,
                        size_t err_size) {
  static const char *const moves[3][2] = {
      {"UPDATE runs SET id = ?2 WHERE id = ?1", "UPDATE runs SET id = -id - 1 WHERE id < 0"},
      {"UPDATE metrics SET run_id = ?2 WHERE run_id = ?1", "UPDATE metrics SET run_id = -run_id - 1 WHERE run_id < 0"},
      {"UPDATE extra_metrics SET run_id = ?2 WHERE run_id = ?1",
       "UPDATE extra_metrics SET run_id = -run_id - 1 WHERE run_id < 0"}};
  sqlite3_stmt *st = NULL;
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(s, err, err_size, "starting a transaction");
  /* Through negative ids, so that no two runs ever hold one id. */
  for (int t = 0; t < 3; t++) {
    if (sqlite3_prepare_v2(s->db, moves[t][0], -1, &st, NULL) != SQLITE_OK) goto fail;
    for (int i = n_old - 1; i >= 0; i--) {
      sqlite3_reset(st);
      sqlite3_bind_int(st, 1, i);
      sqlite3_bind_int(st, 2, -new_id[i] - 1);
      if (sqlite3_step(st) != SQLITE_DONE) goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(s->db, moves[t][1], NULL, NULL, NULL) != SQLITE_OK) goto fail;
  }
  if (sqlite3_prepare_v2(s->db, "UPDATE sweep SET value = ?1 WHERE key = 'config'", -1, &st, NULL) != SQLITE_OK)
    goto fail;
  sqlite3_bind_text(st, 1, canonical, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail;
  return 0;
fail:
  if (st) sqlite3_finalize(st);
  {
    int rc = db_fail(s, err, err_size, "renumbering the runs");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
}

int cbrl_store_finished(cbrl_store *s, unsigned char *done, int n) {
  sqlite3_stmt *st;
  memset(done, 0, (size_t)n);
  if (sqlite3_prepare_v2(s->db, "SELECT id FROM runs WHERE status IN ('done', 'failed')", -1, &st, NULL) != SQLITE_OK)
    return CBRL_EIO;
  while (sqlite3_step(st) == SQLITE_ROW) {
    int id = sqlite3_column_int(st, 0);
    if (id >= 0 && id < n) done[id] = 1;
  }
  sqlite3_finalize(st);
  return 0;
}

static void bind_real_or_null(sqlite3_stmt *st, int i, double v) {
  if (isfinite(v)) sqlite3_bind_double(st, i, v);
  else sqlite3_bind_null(st, i);
}

int cbrl_store_write(cbrl_store *s, const cbrl_config *c, const cbrl_run_spec *r,
                     const cbrl_run_result *res, char *err, size_t err_size) {
  char run_config[512], *x_json = NULL;
  /* The temperature the run used: the config's, else the problem's own (NULL only for a run
     whose problem could not be built). */
  double lambda = isnan(r->lambda) ? res->lambda : r->lambda;
  snprintf(run_config, sizeof run_config,
           "{\"algorithm\": \"%s\", \"env\": \"%s\", \"simulator\": \"%s\", \"lambda\": %.17g, \"beta\": %.17g, "
           "\"learning_rate\": %.17g, \"zero_order_c\": %.17g, \"seed\": %ld}",
           cbrl_algorithm_name(r->algorithm), c->env, cbrl_simulator_name(r->simulator),
           isnan(lambda) ? -1.0 : lambda, r->beta, r->learning_rate,
           isnan(r->zero_order_c) ? 0.0 : r->zero_order_c, r->seed);
  if (res->x) {
    size_t cap = (size_t)res->dim * 26 + 4, n = 0;
    x_json = malloc(cap);
    if (!x_json) {
      snprintf(err, err_size, "%s: run %d: out of memory", s->path, r->index);
      return CBRL_ENOMEM;
    }
    n += (size_t)snprintf(x_json + n, cap - n, "[");
    for (int j = 0; j < res->dim; j++) n += (size_t)snprintf(x_json + n, cap - n, "%s%.17g", j ? "," : "", res->x[j]);
    snprintf(x_json + n, cap - n, "]");
  }
  int rc = 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    free(x_json);
    return db_fail(s, err, err_size, "starting a transaction");
  }
  /* Nothing finished is ever rewritten (issue 13 class 8): a run stored done or failed stays
     as it is, whoever writes next. */
  if (sqlite3_prepare_v2(s->db, "SELECT status FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK) goto fail;
  sqlite3_bind_int(st, 1, r->index);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *old = (const char *)sqlite3_column_text(st, 0);
    if (old && (!strcmp(old, "done") || !strcmp(old, "failed"))) {
      snprintf(err, err_size, "%s: run %d is already stored as %s: refusing to rewrite a finished run as %s", s->path,
               r->index, old, res->interrupted ? "interrupted" : res->failed ? "failed" : "done");
      sqlite3_finalize(st);
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      free(x_json);
      return CBRL_EINVAL;
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  static const char insert_run[] =
      "INSERT OR REPLACE INTO runs(id, algorithm, env, simulator, lambda, beta, learning_rate, zero_order_c, seed,"
      " config, status, error, iterations, env_steps, final_F, window_F, window_f_sampled, wall_seconds,"
      " cpu_seconds, x, clip_active) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)";
  if (sqlite3_prepare_v2(s->db, insert_run, -1, &st, NULL) != SQLITE_OK) goto fail;
  sqlite3_bind_int(st, 1, r->index);
  sqlite3_bind_text(st, 2, cbrl_algorithm_name(r->algorithm), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, c->env, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, cbrl_simulator_name(r->simulator), -1, SQLITE_STATIC);
  bind_real_or_null(st, 5, lambda);
  bind_real_or_null(st, 6, r->beta);
  sqlite3_bind_double(st, 7, r->learning_rate);
  bind_real_or_null(st, 8, r->zero_order_c);
  sqlite3_bind_int64(st, 9, r->seed);
  sqlite3_bind_text(st, 10, run_config, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 11, res->interrupted ? "interrupted" : res->failed ? "failed" : "done", -1, SQLITE_STATIC);
  if (res->failed) sqlite3_bind_text(st, 12, res->error, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 13, res->iterations);
  sqlite3_bind_int64(st, 14, res->env_steps);
  bind_real_or_null(st, 15, res->final_F);
  bind_real_or_null(st, 16, res->window_F);
  bind_real_or_null(st, 17, res->window_f_sampled);
  sqlite3_bind_double(st, 18, res->wall_seconds);
  sqlite3_bind_double(st, 19, res->cpu_seconds);
  if (x_json) sqlite3_bind_text(st, 20, x_json, -1, SQLITE_STATIC);
  bind_real_or_null(st, 21, res->clip_active);
  if (sqlite3_step(st) != SQLITE_DONE) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  /* A rerun replaces whatever an interrupted attempt left. */
  if (sqlite3_prepare_v2(s->db, "DELETE FROM metrics WHERE run_id = ?1", -1, &st, NULL) != SQLITE_OK) goto fail;
  sqlite3_bind_int(st, 1, r->index);
  if (sqlite3_step(st) != SQLITE_DONE) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT OR REPLACE INTO metrics(run_id, iteration, context, F, f_context, grad_norm, env_steps,"
                         " follower_iterations, follower_products, follower_samples, level, env_steps_total,"
                         " follower_samples_total, wall_time, x) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
                         "?14,?15)",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  for (int64_t i = 0; i < res->n_rows; i++) {
    const cbrl_metric_row *m = &res->rows[i];
    sqlite3_reset(st);
    sqlite3_bind_int(st, 1, r->index);
    sqlite3_bind_int64(st, 2, m->iteration);
    sqlite3_bind_int(st, 3, m->context);
    bind_real_or_null(st, 4, m->F);
    bind_real_or_null(st, 5, m->f_context);
    bind_real_or_null(st, 6, m->grad_norm);
    sqlite3_bind_int64(st, 7, m->env_steps);
    sqlite3_bind_int64(st, 8, m->follower_iterations);
    sqlite3_bind_int64(st, 9, m->follower_products);
    sqlite3_bind_int64(st, 10, m->follower_samples);
    sqlite3_bind_int(st, 11, m->level);
    sqlite3_bind_int64(st, 12, m->env_steps_total);
    sqlite3_bind_int64(st, 13, m->follower_samples_total);
    bind_real_or_null(st, 14, m->wall_time);
    if (m->x_index >= 0 && m->x_index < res->n_x && res->row_x)
      sqlite3_bind_blob(st, 15, res->row_x + m->x_index * res->dim, (int)(sizeof(double) * (size_t)res->dim),
                        SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 15);
    if (sqlite3_step(st) != SQLITE_DONE) goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  /* The environment's report, one row per finite value, in the same transaction. */
  const cbrl_env *e = cbrl_env_find(c->env);
  const char *const *names = NULL;
  int n_names = e ? cbrl_env_report_names(e, &names) : 0;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM extra_metrics WHERE run_id = ?1", -1, &st, NULL) != SQLITE_OK) goto fail;
  sqlite3_bind_int(st, 1, r->index);
  if (sqlite3_step(st) != SQLITE_DONE) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  if (n_names) {
    if (sqlite3_prepare_v2(s->db, "INSERT INTO extra_metrics(run_id, iteration, name, value) VALUES(?1,?2,?3,?4)", -1,
                           &st, NULL) != SQLITE_OK)
      goto fail;
    for (int64_t i = 0; i < res->n_rows; i++)
      for (int j = 0; j < n_names; j++) {
        const cbrl_metric_row *m = &res->rows[i];
        if (!isfinite(m->extra[j])) continue;
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, r->index);
        sqlite3_bind_int64(st, 2, m->iteration);
        sqlite3_bind_text(st, 3, names[j], -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, m->extra[j]);
        if (sqlite3_step(st) != SQLITE_DONE) goto fail;
      }
    sqlite3_finalize(st);
    st = NULL;
  }
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail;
  free(x_json);
  return 0;
fail:
  rc = db_fail(s, err, err_size, "writing a run");
  if (st) sqlite3_finalize(st);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  free(x_json);
  return rc;
}

/* x as stored per row: dim doubles, little-endian (every platform cbrl builds on). */
static int x_from_blob(const void *blob, int bytes, double **x, int *dim) {
  if (bytes <= 0 || bytes % (int)sizeof(double)) return CBRL_EPARSE;
  *dim = bytes / (int)sizeof(double);
  if (!(*x = malloc((size_t)bytes))) return CBRL_ENOMEM;
  memcpy(*x, blob, (size_t)bytes);
  return 0;
}

/* The runs table's final x, a JSON array of numbers. */
static int x_from_json(const char *text, double **x, int *dim) {
  int n = 0, cap = 16;
  double *v = malloc(sizeof *v * (size_t)cap);
  if (!v) return CBRL_ENOMEM;
  const char *p = text ? strchr(text, '[') : NULL;
  if (!p) goto bad;
  p++;
  for (;;) {
    while (*p == ' ') p++;
    if (*p == ']' && n == 0) break;
    char *end;
    double d = strtod(p, &end);
    if (end == p) goto bad;
    if (n == cap) {
      double *v2 = realloc(v, sizeof *v * (size_t)(cap *= 2));
      if (!v2) {
        free(v);
        return CBRL_ENOMEM;
      }
      v = v2;
    }
    v[n++] = d;
    p = end;
    while (*p == ' ') p++;
    if (*p == ']') break;
    if (*p++ != ',') goto bad;
  }
  if (!n) goto bad;
  *x = v;
  *dim = n;
  return 0;
bad:
  free(v);
  return CBRL_EPARSE;
}

int cbrl_store_read_x(const char *dir, int run_id, double **x, int *dim, int64_t *iteration, char *err,
                      size_t err_size) {
  char path[1100];
  struct stat sb;
  *x = NULL;
  *dim = 0;
  if (iteration) *iteration = 0;
  if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(path, sizeof path, "%s/results.sqlite", dir);
  else snprintf(path, sizeof path, "%s", dir);
  if (stat(path, &sb) != 0) {
    snprintf(err, err_size, "%s: no results store", path);
    return CBRL_EIO;
  }
  sqlite3 *db;
  int orc = cbrl_store_open_read(path, &db, err, err_size);
  if (orc) return CBRL_EIO;
  sqlite3_stmt *st = NULL;
  int rc = CBRL_EINVAL, have_x_column = 0;
  unsigned have;
  if (!metrics_columns(db, added + 5, 1, &have)) have_x_column = have & 1u;
  if (sqlite3_prepare_v2(db, "SELECT status, x FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK) {
    snprintf(err, err_size, "%s: not a cbrl results store: %s", path, sqlite3_errmsg(db));
    rc = CBRL_EIO;
    goto done;
  }
  sqlite3_bind_int(st, 1, run_id);
  if (sqlite3_step(st) != SQLITE_ROW) {
    snprintf(err, err_size, "%s: no run %d", path, run_id);
    goto done;
  }
  if (strcmp((const char *)sqlite3_column_text(st, 0), "done")) {
    snprintf(err, err_size, "%s: run %d is %s, not done", path, run_id, (const char *)sqlite3_column_text(st, 0));
    goto done;
  }
  char *final_x = sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : strdup((const char *)sqlite3_column_text(st, 1));
  sqlite3_finalize(st);
  st = NULL;
  if (have_x_column &&
      sqlite3_prepare_v2(db, "SELECT iteration, x FROM metrics WHERE run_id = ?1 AND x IS NOT NULL"
                             " ORDER BY iteration DESC LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_int(st, 1, run_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
      rc = x_from_blob(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1), x, dim);
      if (!rc && iteration) *iteration = sqlite3_column_int64(st, 0);
      if (rc) snprintf(err, err_size, "%s: run %d: its stored x cannot be read", path, run_id);
      free(final_x);
      goto done;
    }
  }
  rc = x_from_json(final_x, x, dim);
  if (rc) snprintf(err, err_size, "%s: run %d has no stored x", path, run_id);
  free(final_x);
done:
  if (st) sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}
