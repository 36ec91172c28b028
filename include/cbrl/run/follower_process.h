/* External-process followers (docs/FOLLOWER_PROTOCOL.md): a child process, in any language,
   answers the leader over its stdin and stdout, either learning in the environment cbrl serves
   it (reset/step) and then giving its policy, or bringing trajectories of its own. The process
   lives across leader iterations; every fault (death, hang, malformed or wrong message) fails
   the response with a reason, never hangs or crashes the caller. Part of libcbrl_run. */
#ifndef CBRL_RUN_FOLLOWER_PROCESS_H
#define CBRL_RUN_FOLLOWER_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/follower.h"

/* The protocol version cbrl speaks (the "protocol" of hello). */
#define CBRL_FOLLOWER_PROTOCOL 1

/* Who produces the trajectories. */
typedef enum cbrl_process_mode {
  CBRL_PROCESS_SERVE = 0,       /* "serve": cbrl serves reset/step; the follower answers a policy */
  CBRL_PROCESS_TRAJECTORIES = 1 /* "trajectories": the follower brings a batch of its own steps */
} cbrl_process_mode;

typedef struct cbrl_process_opts {
  const char *command;    /* the program and its arguments, split into words as a shell would
                             (quotes, no expansion); the program is looked up in PATH */
  cbrl_process_mode mode;
  double timeout;         /* seconds to wait for each message (<= 0: 30) */
  int64_t steps;          /* serve: environment steps the follower may take per iteration */
  int max_steps;          /* serve: served episodes are truncated after this many steps (0: never) */
  uint64_t seed;          /* passed in hello, for the follower's own random numbers */
  /* Each line the follower writes to stderr, prefixed "[follower PID] " (NULL: dropped). */
  void (*on_stderr)(void *user, const char *line);
  void *user;
} cbrl_process_opts;

/* Returns the name of a mode ("serve", "trajectories"). */
CBRL_API const char *cbrl_process_mode_name(cbrl_process_mode m);

/* Parses a mode's name; CBRL_EINVAL for an unknown one. */
CBRL_API int cbrl_process_mode_parse(const char *name, cbrl_process_mode *out);

/* Checks that a command names an executable program (before anything is started or written);
   on failure writes "command: ..." to err and returns CBRL_EINVAL. */
CBRL_API int cbrl_follower_command_check(const char *command, char *err, size_t err_size);

/* Creates a follower of p that speaks the protocol with the command's process, started at the
   first response and kept across responses. Fails (CBRL_EINVAL, message in err) on a command
   that cannot run; starts nothing then. */
CBRL_API int cbrl_follower_process_create(cbrl_follower **out, const cbrl_problem *p, const cbrl_process_opts *o,
                                          char *err, size_t err_size);

/* Returns the reason the last response failed ("" if it did not), naming the command, the
   message and the field. */
CBRL_API const char *cbrl_follower_process_error(const cbrl_follower *f);

/* Stops the process (bye, then SIGKILL after a second); the next response starts a fresh one. */
CBRL_API int cbrl_follower_process_restart(cbrl_follower *f);

/* What the protocol cost so far: wall seconds spent writing, waiting for and parsing messages
   (the follower's own computing included while cbrl waits), and messages exchanged. */
CBRL_API void cbrl_follower_process_cost(const cbrl_follower *f, double *seconds, int64_t *messages);

/* Returns the process id of the running follower, or 0 when none runs. */
CBRL_API long cbrl_follower_process_pid(const cbrl_follower *f);

#endif /* CBRL_RUN_FOLLOWER_PROCESS_H */
