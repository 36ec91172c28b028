/* Error codes: every cbrl function returns 0 or one of these negative codes. */
#ifndef CBRL_ERRORS_H
#define CBRL_ERRORS_H

#include "cbrl/export.h"

/* The one table of error codes; it also generates cbrl_strerror and cbrl_err_name. */
#define CBRL_ERRNO_MAP(XX)                                                  \
  XX(EINVAL, -1, "invalid argument")                                      \
  XX(ENOMEM, -2, "out of memory")                                         \
  XX(EPARSE, -3, "malformed input")                                       \
  XX(EIO, -4, "input/output error")                                       \
  XX(ENOCONV, -5, "solver did not converge to the requested tolerance")   \
  XX(ENONFINITE, -6, "a non-finite value (NaN or Inf) was produced")      \
  XX(ERANGE, -7, "value out of range")                                    \
  XX(ENOTSUP, -8, "operation not supported by this problem")              \
  XX(ETOOBIG, -9, "the memory needed exceeds the memory limit")                \
  XX(ECANCELED, -10, "canceled: the caller's cancellation flag was set")

typedef enum {
#define CBRL_ERR_ENUM_(name, code, msg) CBRL_##name = code,
  CBRL_ERRNO_MAP(CBRL_ERR_ENUM_)
#undef CBRL_ERR_ENUM_
  CBRL_ERR_LAST_ = -11
} cbrl_errno;

/* Returns a human-readable message for an error code (0 gives "success"). */
CBRL_API const char *cbrl_strerror(int err);

/* Returns the symbolic name of an error code, such as "CBRL_EINVAL". */
CBRL_API const char *cbrl_err_name(int err);

#endif /* CBRL_ERRORS_H */
