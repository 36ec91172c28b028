/* Tests for run/tensorboard.c: the exported event files read back with valid CRCs and the
   store's values. */
#include "run/run_util.h"

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

static void tensorboard_export_reads_back(void **state) {
  /* The CRC32C check value of the standard "123456789". */
  assert_int_equal(cbrl_crc32c("123456789", 9), 0xE3069283u);
  const char *cfg = write_config("tb.yaml", small);
  char args[512], path[512];
  snprintf(args, sizeof args, "run %s --out %s/tb --threads 2 --quiet --set seeds=1", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "export %s/tb --tensorboard %s/tblog", dir, dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "4 runs written"));
  /* Read run 0's event file back, checking both CRCs of every record. */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s/tblog/run0000_*/events.out.tfevents.* > %s/tbfile.txt", dir, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/tbfile.txt", dir);
  FILE *lf = fopen(path, "r");
  char file[512];
  assert_non_null(fgets(file, sizeof file, lf));
  fclose(lf);
  file[strcspn(file, "\n")] = 0;
  FILE *f = fopen(file, "rb");
  assert_non_null(f);
  unsigned char head[12], data[512], tail[4];
  int records = 0, scalars = 0;
  sqlite3 *db;
  snprintf(path, sizeof path, "%s/tb/results.sqlite", dir);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  while (fread(head, 1, 12, f) == 12) {
    uint64_t len = get_le(head, 8);
    assert_int_equal(get_le(head + 8, 4), cbrl_crc32c_masked(head, 8));
    assert_true(len < sizeof data);
    assert_int_equal(fread(data, 1, len, f), len);
    assert_int_equal(fread(tail, 1, 4, f), 4);
    assert_int_equal(get_le(tail, 4), cbrl_crc32c_masked(data, len));
    const unsigned char *p = data + 9; /* wall_time */
    assert_int_equal(data[0], 0x09);
    if (records++ == 0) {
      assert_int_equal(*p++, 0x1a);
      uint64_t n = get_varint(&p);
      assert_true(n == 13 && memcmp(p, "brain.Event:2", 13) == 0);
      continue;
    }
    assert_int_equal(*p++, 0x10);
    int64_t step = (int64_t)get_varint(&p);
    assert_int_equal(*p++, 0x2a);
    get_varint(&p);
    assert_int_equal(*p++, 0x0a);
    get_varint(&p);
    assert_int_equal(*p++, 0x0a);
    uint64_t tl = get_varint(&p);
    char tag[64];
    memcpy(tag, p, tl);
    tag[tl] = 0;
    p += tl;
    assert_int_equal(*p++, 0x15);
    uint32_t bits = (uint32_t)get_le(p, 4);
    float value;
    memcpy(&value, &bits, 4);
    /* The value is the store's, as a float. */
    char q[200];
    const char *column = !strcmp(tag, "F") ? "F" : !strcmp(tag, "grad_norm") ? "grad_norm" : "f_context";
    snprintf(q, sizeof q, "SELECT %s FROM metrics WHERE run_id = 0 AND iteration = %lld", column, (long long)step);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(value == (float)sqlite3_column_double(st, 0));
    sqlite3_finalize(st);
    scalars++;
  }
  fclose(f);
  sqlite3_close(db);
  assert_true(scalars > 20);
  print_message("tensorboard: %d records read back\n", records);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tensorboard_export_reads_back),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
