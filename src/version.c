#include "cbrl/version.h"

unsigned cbrl_version(void) { return CBRL_VERSION_HEX; }

const char *cbrl_version_string(void) { return CBRL_VERSION_STRING; }
