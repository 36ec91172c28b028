/* Internal: one JSON message per line, as the follower protocol speaks (docs/FOLLOWER_PROTOCOL.md):
   a strict validator with a depth limit, lookups of a top-level object's members, and a growing
   output buffer. No allocation per value: a parsed message is the line itself. */
#ifndef CBRL_JSON_LINE_H
#define CBRL_JSON_LINE_H

#include <stddef.h>
#include <stdint.h>

/* Checks that text[0..len) is one JSON object (RFC 8259, nesting at most 16 deep, no NUL);
   on failure writes where and what to err and returns -1. */
int cbrl__json_check(const char *text, size_t len, char *err, size_t err_size);

/* The value of member `key` of the object text (already checked), or NULL. */
const char *cbrl__json_member(const char *text, const char *key);

/* Reads a member as a number / integer / boolean / string (copied, at most size - 1 bytes).
   Returns 0, or -1 if missing or of another type (or, for an integer, not integral or out of
   [lo, hi]). */
int cbrl__json_number(const char *text, const char *key, double *out);
int cbrl__json_int(const char *text, const char *key, int64_t lo, int64_t hi, int64_t *out);
int cbrl__json_bool(const char *text, const char *key, int *out);
int cbrl__json_string(const char *text, const char *key, char *out, size_t size);

/* Reads a member that is an array of n numbers (null reads as NAN) into out; returns the count
   found, or -1 if missing or not an array of numbers. Stops at n. */
int64_t cbrl__json_numbers(const char *text, const char *key, double *out, int64_t n);

/* A growing text buffer for outgoing messages. */
typedef struct cbrl__json_out {
  char *buf;
  size_t len, cap;
  int failed; /* an allocation failed: the message is incomplete */
} cbrl__json_out;

/* Appends formatted text. */
void cbrl__json_put(cbrl__json_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends a double that reads back to the same bits (%.17g; NaN and infinities as null). */
void cbrl__json_double(cbrl__json_out *o, double v);

/* Appends ",\"key\":[v0,v1,...]". */
void cbrl__json_doubles(cbrl__json_out *o, const char *key, const double *v, int64_t n);

/* Decodes standard base64 (no line breaks) of exactly `want` bytes into out; -1 otherwise. */
int cbrl__base64_decode(const char *in, size_t in_len, unsigned char *out, size_t want);

#endif /* CBRL_JSON_LINE_H */
