/* Symbol export macro for the public API. */
#ifndef CBRL_EXPORT_H
#define CBRL_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define CBRL_API __attribute__((visibility("default")))
#else
#define CBRL_API
#endif

#endif /* CBRL_EXPORT_H */
