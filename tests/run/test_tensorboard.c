/* Tests for run/tensorboard.c: the exported event files read back with valid CRCs and the
   store's values. */
#include "run/run_util.h"

#include <math.h>

#include "cbrl/run/tensorboard.h"

static uint64_t get_le(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get_varint(const unsigned char **p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    unsigned char b = *(*p)++;
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
}

/* A length-delimited protobuf field: finds field `field` in msg[0..n), returns its bytes. */
static const unsigned char *pb_find(const unsigned char *msg, size_t n, int field, size_t *len, int nth) {
  const unsigned char *p = msg, *end = msg + n;
  while (p < end) {
    uint64_t key = get_varint(&p);
    int f = (int)(key >> 3), wire = (int)(key & 7);
    if (wire == 0) get_varint(&p);
    else if (wire == 1) p += 8;
    else if (wire == 5) p += 4;
    else if (wire == 2) {
      uint64_t l = get_varint(&p);
      if (f == field && nth-- == 0) {
        *len = l;
        return p;
      }
      p += l;
    } else return NULL;
  }
  return NULL;
}

/* A fixed64 field as a double (NAN if absent). */
static double pb_double_field(const unsigned char *msg, size_t n, int field) {
  const unsigned char *p = msg, *end = msg + n;
  while (p < end) {
    uint64_t key = get_varint(&p);
    int f = (int)(key >> 3), wire = (int)(key & 7);
    if (wire == 0) get_varint(&p);
    else if (wire == 1) {
      if (f == field) {
        uint64_t bits = get_le(p, 8);
        double v;
        memcpy(&v, &bits, 8);
        return v;
      }
      p += 8;
    } else if (wire == 5) p += 4;
    else if (wire == 2) p += get_varint(&p);
  }
  return NAN;
}

typedef struct events {
  int records, scalars, hparams_start, hparams_end;
  char scalar_text[1 << 16]; /* "step tag value wall;" of every scalar */
  size_t n;
  char start_info[2048];     /* the session_start_info's bytes, as hex */
} events;

/* Reads an event file, checking both CRCs of every record, and decodes its events. */
static void read_events(const char *file, events *ev) {
  memset(ev, 0, sizeof *ev);
  FILE *f = fopen(file, "rb");
  assert_non_null(f);
  unsigned char head[12], data[4096], tail[4];
  while (fread(head, 1, 12, f) == 12) {
    uint64_t len = get_le(head, 8);
    assert_int_equal(get_le(head + 8, 4), cbrl_crc32c_masked(head, 8));
    assert_true(len < sizeof data);
    assert_int_equal(fread(data, 1, len, f), len);
    assert_int_equal(fread(tail, 1, 4, f), 4);
    assert_int_equal(get_le(tail, 4), cbrl_crc32c_masked(data, len));
    double wall = pb_double_field(data, len, 1);
    assert_true(wall > 1e9);
    size_t sl, vl, tl, ml;
    if (ev->records++ == 0) {
      const unsigned char *v = pb_find(data, len, 3, &sl, 0);
      assert_true(v && sl == 13 && memcmp(v, "brain.Event:2", 13) == 0);
      continue;
    }
    const unsigned char *p = data;
    uint64_t step = 0;
    if (data[9] == 0x10) {
      p = data + 10;
      step = get_varint(&p);
    }
    const unsigned char *summary = pb_find(data, len, 5, &sl, 0);
    assert_non_null(summary);
    const unsigned char *value = pb_find(summary, sl, 1, &vl, 0);
    assert_non_null(value);
    const unsigned char *tag = pb_find(value, vl, 1, &tl, 0);
    assert_non_null(tag);
    char t[128];
    memcpy(t, tag, tl);
    t[tl] = 0;
    const unsigned char *meta = pb_find(value, vl, 9, &ml, 0);
    if (meta) {
      size_t pl, nl, cl;
      const unsigned char *plugin = pb_find(meta, ml, 1, &pl, 0);
      const unsigned char *name = pb_find(plugin, pl, 1, &nl, 0);
      assert_true(name && nl == 7 && !memcmp(name, "hparams", 7));
      const unsigned char *content = pb_find(plugin, pl, 2, &cl, 0);
      assert_non_null(content);
      assert_non_null(pb_find(value, vl, 8, &nl, 0)); /* the tensor TensorBoard reads summaries by */
      if (!strcmp(t, "_hparams_/session_start_info")) {
        size_t il;
        const unsigned char *info = pb_find(content, cl, 3, &il, 0);
        assert_non_null(info);
        for (size_t i = 0; i < il && 2 * i + 2 < sizeof ev->start_info; i++)
          snprintf(ev->start_info + 2 * i, 3, "%02x", info[i]);
        ev->hparams_start++;
      } else {
        assert_string_equal(t, "_hparams_/session_end_info");
        ev->hparams_end++;
      }
      continue;
    }
    const unsigned char *q = value + 2 + tl;
    assert_int_equal(*q++, 0x15);
    uint32_t bits = (uint32_t)get_le(q, 4);
    float x;
    memcpy(&x, &bits, 4);
    ev->n += (size_t)snprintf(ev->scalar_text + ev->n, sizeof ev->scalar_text - ev->n, "%llu %s %.9g %.6f;",
                              (unsigned long long)step, t, x, wall);
    ev->scalars++;
  }
  fclose(f);
}

/* The one event file under pattern (a shell glob); fails unless there is exactly one. */
static void the_event_file(const char *pattern, char *file, size_t size) {
  char cmd[700], path[256];
  snprintf(cmd, sizeof cmd, "ls %s > %s/tbfile.txt", pattern, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/tbfile.txt", dir);
  FILE *lf = fopen(path, "r");
  assert_non_null(fgets(file, (int)size, lf));
  char extra[512];
  assert_null(fgets(extra, sizeof extra, lf)); /* one file: exporting again replaced it */
  fclose(lf);
  file[strcspn(file, "\n")] = 0;
}

/* The export creates its parents, is idempotent (one file per run, the same bytes), stamps each
   event with its row's wall time, carries the run's hparams, and equals what `cbrl run
   --tensorboard` logged live. */
static void tensorboard_export_reads_back(void **state) {
  /* The CRC32C check value of the standard "123456789". */
  assert_int_equal(cbrl_crc32c("123456789", 9), 0xE3069283u);
  const char *cfg = write_config("tb.yaml", small);
  char args[512], path[512], file[512], pattern[300];
  snprintf(args, sizeof args, "run %s --out %s/tb --threads 2 --quiet --set seeds=1 --tensorboard %s/live/tb", cfg, dir,
           dir);
  assert_int_equal(run(args), 0);
  for (int pass = 0; pass < 2; pass++) {
    snprintf(args, sizeof args, "export %s/tb --tensorboard %s/tb/quick/deeper", dir, dir);
    assert_int_equal(run(args), 0);
    assert_non_null(strstr(err_text, "4 runs written"));
  }
  snprintf(pattern, sizeof pattern, "%s/tb/quick/deeper/run0000_*/events.out.tfevents.*", dir);
  the_event_file(pattern, file, sizeof file);
  static events ev, live;
  read_events(file, &ev);
  assert_int_equal(ev.hparams_start, 1);
  assert_int_equal(ev.hparams_end, 1);
  /* algorithm = "hpgd-batch" and lambda = 0.005 in the start info's map. */
  assert_non_null(strstr(ev.start_info, "0a09616c676f726974686d")); /* key "algorithm" */
  assert_non_null(strstr(ev.start_info, "1a0a687067642d6261746368")); /* string_value "hpgd-batch" */
  assert_non_null(strstr(ev.start_info, "0a066c616d626461")); /* key "lambda" */
  /* Every scalar is the store's value at the row's own wall time. */
  sqlite3 *db;
  snprintf(path, sizeof path, "%s/tb/results.sqlite", dir);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT iteration, F, f_context, grad_norm, wall_time FROM metrics"
                                          " WHERE run_id = 0 ORDER BY iteration", -1, &st, NULL), SQLITE_OK);
  static char want[1 << 16];
  size_t n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    static const char *const tags[3] = {"F", "f_sampled_context", "grad_norm"};
    for (int t = 0; t < 3; t++)
      n += (size_t)snprintf(want + n, sizeof want - n, "%lld %s %.9g %.6f;", (long long)sqlite3_column_int64(st, 0),
                            tags[t], (float)sqlite3_column_double(st, 1 + t), sqlite3_column_double(st, 4));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  assert_string_equal(ev.scalar_text, want);
  assert_true(ev.scalars > 20);
  /* Live: the same scalars at the same times. */
  snprintf(pattern, sizeof pattern, "%s/live/tb/run0000_*/events.out.tfevents.*", dir);
  the_event_file(pattern, file, sizeof file);
  read_events(file, &live);
  assert_string_equal(live.scalar_text, ev.scalar_text);
  assert_int_equal(live.hparams_start, 1);
  assert_int_equal(live.hparams_end, 1);
  print_message("tensorboard: %d records read back\n", ev.records);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tensorboard_export_reads_back),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
