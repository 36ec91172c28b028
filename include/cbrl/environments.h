/* Deprecated: split into cbrl/env/four_rooms.h, cbrl/env/tax.h and cbrl/env/random_problem.h; kept for one release. */
#include "cbrl/env/four_rooms.h"
#include "cbrl/env/tax.h"
#include "cbrl/env/random_problem.h"
