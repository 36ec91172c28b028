/* Deprecated: split into cbrl/hpgd.h, cbrl/amd.h and cbrl/rtq.h; kept for one release. */
#include "cbrl/hpgd.h"
#include "cbrl/amd.h"
#include "cbrl/rtq.h"
