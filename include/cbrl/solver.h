/* Deprecated: renamed cbrl/soft_solver.h; kept for one release. */
#include "cbrl/soft_solver.h"
