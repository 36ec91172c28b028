/* Library version: a compile-time macro and a run-time query that must agree. */
#ifndef CBRL_VERSION_H
#define CBRL_VERSION_H

#include "cbrl/export.h"

#define CBRL_VERSION_MAJOR 0
#define CBRL_VERSION_MINOR 1
#define CBRL_VERSION_PATCH 0
#define CBRL_VERSION_STRING "0.1.0"
#define CBRL_VERSION_HEX \
  ((CBRL_VERSION_MAJOR << 16) | (CBRL_VERSION_MINOR << 8) | CBRL_VERSION_PATCH)

/* Returns the version of the linked library as CBRL_VERSION_HEX would give it. */
CBRL_API unsigned cbrl_version(void);

/* Returns the version of the linked library as a "MAJOR.MINOR.PATCH" string. */
CBRL_API const char *cbrl_version_string(void);

#endif /* CBRL_VERSION_H */
