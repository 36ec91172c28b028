/* Sweeps over MPI ranks. Rank 0 owns the SQLite store, as in a threaded sweep; workers ask
   it for the next run (dynamic assignment, so slow runs do not idle other ranks), run it, and
   send the whole result back in one message, which rank 0 commits in one transaction. A rank
   that dies loses only its runs in flight: the store holds whole runs only, and --resume
   completes the sweep. Results are bit for bit those of a single-process sweep, because a
   run's random numbers depend on its own parameters only. */
#include <mpi.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "sweep_internal.h"

enum { TAG_REQUEST = 1, TAG_RESULT = 2, TAG_DONE = 3, TAG_REPLY = 100 };

static int thread_level;

int cbrl_mpi_init(int *argc, char ***argv, int *rank, int *size) {
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &thread_level) != MPI_SUCCESS) return CBRL_EIO;
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  return 0;
}

void cbrl_mpi_finalize(void) { MPI_Finalize(); }

/* A result as one message: header, x, metric rows, the rows' x. All ranks run the same binary. */
typedef struct wire {
  int32_t index, failed, interrupted, dim, row_dim;
  int64_t iterations, env_steps, n_rows, n_x;
  double final_F, window_F, window_f_sampled, wall_seconds, cpu_seconds, lambda, clip_active;
  char error[256];
} wire;

static size_t wire_size(const wire *h) {
  return sizeof *h + sizeof(double) * (size_t)h->dim + sizeof(cbrl_metric_row) * (size_t)h->n_rows +
         sizeof(double) * (size_t)h->n_x * (size_t)h->row_dim;
}

static char *pack(int index, const cbrl_run_result *r, size_t *len) {
  wire h = {index, r->failed, r->interrupted, r->x ? r->dim : 0, r->row_x ? r->dim : 0, r->iterations,
            r->env_steps, r->n_rows, r->row_x ? r->n_x : 0, r->final_F, r->window_F, r->window_f_sampled,
            r->wall_seconds, r->cpu_seconds, r->lambda, r->clip_active, {0}};
  char *buf = malloc(wire_size(&h));
  if (!buf) return NULL;
  memcpy(h.error, r->error, sizeof h.error);
  memcpy(buf, &h, sizeof h);
  size_t n = sizeof h;
  if (h.dim) memcpy(buf + n, r->x, sizeof(double) * (size_t)h.dim);
  n += sizeof(double) * (size_t)h.dim;
  memcpy(buf + n, r->rows, sizeof(cbrl_metric_row) * (size_t)r->n_rows);
  n += sizeof(cbrl_metric_row) * (size_t)r->n_rows;
  if (h.n_x) memcpy(buf + n, r->row_x, sizeof(double) * (size_t)h.n_x * (size_t)h.row_dim);
  *len = wire_size(&h);
  return buf;
}

static int unpack(const char *buf, size_t len, cbrl_run_result *r) {
  wire h;
  if (len < sizeof h) return -1;
  memcpy(&h, buf, sizeof h);
  if (len != wire_size(&h)) return -1;
  memset(r, 0, sizeof *r);
  r->failed = h.failed;
  r->interrupted = h.interrupted;
  memcpy(r->error, h.error, sizeof r->error);
  r->iterations = h.iterations;
  r->env_steps = h.env_steps;
  r->final_F = h.final_F;
  r->window_F = h.window_F;
  r->window_f_sampled = h.window_f_sampled;
  r->wall_seconds = h.wall_seconds;
  r->cpu_seconds = h.cpu_seconds;
  r->lambda = h.lambda;
  r->clip_active = h.clip_active;
  r->dim = h.dim ? h.dim : h.row_dim;
  r->x = h.dim ? malloc(sizeof(double) * (size_t)h.dim) : NULL;
  r->rows = malloc(sizeof(cbrl_metric_row) * (size_t)(h.n_rows ? h.n_rows : 1));
  r->row_x = h.n_x ? malloc(sizeof(double) * (size_t)h.n_x * (size_t)h.row_dim) : NULL;
  if ((h.dim && !r->x) || !r->rows || (h.n_x && !r->row_x)) return -1;
  size_t n = sizeof h;
  if (h.dim) memcpy(r->x, buf + n, sizeof(double) * (size_t)h.dim);
  n += sizeof(double) * (size_t)h.dim;
  memcpy(r->rows, buf + n, sizeof(cbrl_metric_row) * (size_t)h.n_rows);
  n += sizeof(cbrl_metric_row) * (size_t)h.n_rows;
  if (h.n_x) memcpy(r->row_x, buf + n, sizeof(double) * (size_t)h.n_x * (size_t)h.row_dim);
  r->n_rows = r->cap_rows = h.n_rows;
  r->n_x = r->cap_x = h.n_x;
  return h.index;
}

static int coordinator(const cbrl_config *c, const cbrl_sweep_opts *o, int size, cbrl_sweep_progress *out,
                       char *err, size_t err_size) {
  cbrl__sweep w;
  int rc = cbrl__sweep_open(&w, c, o, err, err_size);
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD); /* workers start only on a good store */
  if (rc) {
    cbrl__sweep_close(&w, out);
    return rc;
  }
  int next = 0, finished_workers = 0;
  while (finished_workers < size - 1) {
    MPI_Status st;
    MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    if (st.MPI_TAG == TAG_REQUEST) {
      int thread, index;
      MPI_Recv(&thread, 1, MPI_INT, st.MPI_SOURCE, TAG_REQUEST, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      index = !cbrl__sweep_halted(&w) && next < w.n_todo ? w.todo[next++] : -1;
      MPI_Send(&index, 1, MPI_INT, st.MPI_SOURCE, TAG_REPLY + thread, MPI_COMM_WORLD);
    } else if (st.MPI_TAG == TAG_RESULT) {
      int len;
      MPI_Get_count(&st, MPI_BYTE, &len);
      char *buf = malloc((size_t)len);
      MPI_Recv(buf, len, MPI_BYTE, st.MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      cbrl_run_result res;
      int index = buf ? unpack(buf, (size_t)len, &res) : -1;
      if (index >= 0 && index < w.n_runs) cbrl__sweep_record(&w, index, &res);
      if (index >= 0) cbrl_run_result_free(&res);
      free(buf);
    } else {
      int one;
      MPI_Recv(&one, 1, MPI_INT, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      finished_workers++;
    }
  }
  return cbrl__sweep_close(&w, out);
}

static int worker(const cbrl_config *c, const cbrl_sweep_opts *o) {
  int rc;
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rc) return rc;
  cbrl_run_spec *runs;
  int n_runs;
  if ((rc = cbrl_config_runs(c, &runs, &n_runs))) return rc;
  /* The caller's flag: its signal handlers are this rank's own. */
  const volatile int *stop = o->stop;
  int threads = thread_level >= MPI_THREAD_SERIALIZED ? (o->threads > 0 ? o->threads : omp_get_num_procs()) : 1;
#pragma omp parallel num_threads(threads)
  {
    int thread = omp_get_thread_num();
    for (;;) {
      int index;
#pragma omp critical(cbrl_mpi)
      {
        MPI_Send(&thread, 1, MPI_INT, 0, TAG_REQUEST, MPI_COMM_WORLD);
        MPI_Recv(&index, 1, MPI_INT, 0, TAG_REPLY + thread, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      }
      if (index < 0 || index >= n_runs) break;
      cbrl_run_result res;
      cbrl_run_one(c, &runs[index], &res, stop);
      size_t len;
      char *buf = pack(index, &res, &len);
      if (buf) {
#pragma omp critical(cbrl_mpi)
        MPI_Send(buf, (int)len, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
      }
      free(buf);
      cbrl_run_result_free(&res);
    }
  }
  int one = 1;
  MPI_Send(&one, 1, MPI_INT, 0, TAG_DONE, MPI_COMM_WORLD);
  free(runs);
  return 0;
}

int cbrl_sweep_run_mpi(const cbrl_config *c, const cbrl_sweep_opts *o, int rank, int size, cbrl_sweep_progress *out,
                       char *err, size_t err_size) {
  if (rank == 0) return coordinator(c, o, size, out, err, err_size);
  if (out) memset(out, 0, sizeof *out);
  return worker(c, o);
}
