/* One JSON message per line (docs/FOLLOWER_PROTOCOL.md): validation, member lookups and output. */
#include "json_line.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan {
  const char *p, *end, *start;
  char *err;
  size_t err_size;
  int failed;
} scan;

static int bad(scan *s, const char *what) {
  if (!s->failed && s->err && s->err_size)
    snprintf(s->err, s->err_size, "malformed JSON at byte %ld: %s", (long)(s->p - s->start), what);
  s->failed = 1;
  return -1;
}

static void ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) s->p++;
}

static int value(scan *s, int depth);

static int string(scan *s) {
  if (s->p >= s->end || *s->p != '"') return bad(s, "expected a string");
  s->p++;
  while (s->p < s->end && *s->p != '"') {
    unsigned char c = (unsigned char)*s->p;
    if (c < 0x20) return bad(s, "control character in a string");
    if (c == '\\') {
      s->p++;
      if (s->p >= s->end) break;
      if (*s->p == 'u') {
        for (int i = 1; i <= 4; i++)
          if (s->p + i >= s->end || !strchr("0123456789abcdefABCDEF", s->p[i]) || !s->p[i])
            return bad(s, "bad \\u escape");
        s->p += 4;
      } else if (!strchr("\"\\/bfnrt", *s->p) || !*s->p) {
        return bad(s, "bad escape");
      }
    }
    s->p++;
  }
  if (s->p >= s->end) return bad(s, "unterminated string");
  s->p++;
  return 0;
}

static int number(scan *s) {
  const char *q = s->p;
  if (q < s->end && *q == '-') q++;
  if (q >= s->end || *q < '0' || *q > '9') return bad(s, "expected a value");
  if (*q == '0') q++;
  else while (q < s->end && *q >= '0' && *q <= '9') q++;
  if (q < s->end && *q == '.') {
    q++;
    if (q >= s->end || *q < '0' || *q > '9') return bad(s, "digits expected after '.'");
    while (q < s->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < s->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < s->end && (*q == '+' || *q == '-')) q++;
    if (q >= s->end || *q < '0' || *q > '9') return bad(s, "digits expected in the exponent");
    while (q < s->end && *q >= '0' && *q <= '9') q++;
  }
  s->p = q;
  return 0;
}

static int word(scan *s, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n)) return bad(s, "expected a value");
  s->p += n;
  return 0;
}

static int value(scan *s, int depth) {
  if (depth > 16) return bad(s, "nested more than 16 deep");
  ws(s);
  if (s->p >= s->end) return bad(s, "expected a value");
  char c = *s->p;
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == close) {
      s->p++;
      return 0;
    }
    for (;;) {
      if (c == '{') {
        ws(s);
        if (string(s)) return -1;
        ws(s);
        if (s->p >= s->end || *s->p != ':') return bad(s, "expected ':'");
        s->p++;
      }
      if (value(s, depth + 1)) return -1;
      ws(s);
      if (s->p < s->end && *s->p == ',') {
        s->p++;
        continue;
      }
      if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
      }
      return bad(s, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  if (c == '"') return string(s);
  if (c == 't') return word(s, "true");
  if (c == 'f') return word(s, "false");
  if (c == 'n') return word(s, "null");
  return number(s);
}

int cbrl__json_check(const char *text, size_t len, char *err, size_t err_size) {
  scan s = {text, text + len, text, err, err_size, 0};
  if (memchr(text, 0, len)) return bad(&s, "NUL byte");
  ws(&s);
  if (s.p >= s.end || *s.p != '{') return bad(&s, "a message is a JSON object");
  if (value(&s, 0)) return -1;
  ws(&s);
  if (s.p != s.end) return bad(&s, "text after the object");
  return 0;
}

/* Skips one value of checked text. */
static const char *skip(const char *p) {
  scan s = {p, p + strlen(p), p, NULL, 0, 0};
  value(&s, 0);
  return s.p;
}

const char *cbrl__json_member(const char *text, const char *key) {
  const char *p = text;
  while (*p && *p != '{') p++;
  if (!*p) return NULL;
  p++;
  size_t klen = strlen(key);
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ',') p++;
    if (*p != '"') return NULL;
    const char *k = p + 1, *kend = skip(p) - 1; /* the key without its quotes (escapes compared raw) */
    p = kend + 1;
    while (*p == ' ' || *p == '\t' || *p == ':') p++;
    if ((size_t)(kend - k) == klen && !memcmp(k, key, klen)) return p;
    p = skip(p);
  }
}

int cbrl__json_number(const char *text, const char *key, double *out) {
  const char *v = cbrl__json_member(text, key);
  if (!v || !(*v == '-' || (*v >= '0' && *v <= '9'))) return -1;
  *out = strtod(v, NULL);
  return 0;
}

int cbrl__json_int(const char *text, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  double d;
  if (cbrl__json_number(text, key, &d) || d != floor(d) || d < (double)lo || d > (double)hi) return -1;
  *out = (int64_t)d;
  return 0;
}

int cbrl__json_bool(const char *text, const char *key, int *out) {
  const char *v = cbrl__json_member(text, key);
  if (v && !strncmp(v, "true", 4)) *out = 1;
  else if (v && !strncmp(v, "false", 5)) *out = 0;
  else return -1;
  return 0;
}

int cbrl__json_string(const char *text, const char *key, char *out, size_t size) {
  const char *v = cbrl__json_member(text, key);
  if (!v || *v != '"') return -1;
  const char *end = skip(v) - 1;
  size_t n = 0;
  for (const char *p = v + 1; p < end && n + 1 < size; p++) {
    if (*p == '\\') {
      p++;
      char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'u' ? '?' : *p;
      if (*p == 'u') p += 4;
      out[n++] = c;
    } else {
      out[n++] = *p;
    }
  }
  out[n] = 0;
  return 0;
}

int64_t cbrl__json_numbers(const char *text, const char *key, double *out, int64_t n) {
  const char *p = cbrl__json_member(text, key);
  if (!p || *p != '[') return -1;
  p++;
  int64_t k = 0;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n') p++;
    if (*p == ']') return k;
    if (k >= n) return k + 1; /* more than asked */
    if (!strncmp(p, "null", 4)) {
      out[k++] = NAN;
      p += 4;
    } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
      char *e;
      out[k++] = strtod(p, &e);
      p = e;
    } else {
      return -1;
    }
  }
}

void cbrl__json_put(cbrl__json_out *o, const char *fmt, ...) {
  if (o->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->cap - o->len;
    int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->failed = 1;
      return;
    }
    if (o->buf && (size_t)n < room) {
      o->len += (size_t)n;
      return;
    }
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + (size_t)n + 1) cap *= 2;
    char *b = realloc(o->buf, cap);
    if (!b) {
      o->failed = 1;
      return;
    }
    o->buf = b;
    o->cap = cap;
  }
}

void cbrl__json_double(cbrl__json_out *o, double v) {
  if (isfinite(v)) cbrl__json_put(o, "%.17g", v);
  else cbrl__json_put(o, "null");
}

void cbrl__json_doubles(cbrl__json_out *o, const char *key, const double *v, int64_t n) {
  cbrl__json_put(o, ",\"%s\":[", key);
  for (int64_t i = 0; i < n; i++) {
    if (i) cbrl__json_put(o, ",");
    cbrl__json_double(o, v[i]);
  }
  cbrl__json_put(o, "]");
}

static int b64(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int cbrl__base64_decode(const char *in, size_t in_len, unsigned char *out, size_t want) {
  if (in_len % 4 || in_len / 4 * 3 < want || in_len / 4 * 3 >= want + 3) return -1;
  size_t n = 0;
  for (size_t i = 0; i < in_len; i += 4) {
    int v[4], pad = 0;
    for (int j = 0; j < 4; j++) {
      if (in[i + j] == '=' && i + 4 == in_len && j >= 2) {
        v[j] = 0;
        pad++;
      } else if (pad || (v[j] = b64(in[i + j])) < 0) {
        return -1;
      }
    }
    unsigned w = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
    for (int j = 0; j < 3 - pad; j++) {
      if (n >= want) return -1;
      out[n++] = bytes[j];
    }
  }
  return n == want ? 0 : -1;
}
