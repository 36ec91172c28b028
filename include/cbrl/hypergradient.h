/* Deprecated: renamed cbrl/exact.h; kept for one release. */
#include "cbrl/exact.h"
