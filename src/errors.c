#include "cbrl/errors.h"

const char *cbrl_strerror(int err) {
  switch (err) {
    case 0: return "success";
#define XX(name, code, msg) case code: return msg;
    CBRL_ERRNO_MAP(XX)
#undef XX
    default: return "unknown error";
  }
}

const char *cbrl_err_name(int err) {
  switch (err) {
    case 0: return "CBRL_OK";
#define XX(name, code, msg) case code: return "CBRL_" #name;
    CBRL_ERRNO_MAP(XX)
#undef XX
    default: return "CBRL_UNKNOWN";
  }
}
