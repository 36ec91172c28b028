/* A follower process that costs nothing but the protocol: it answers hello, then every
   iteration of context k with message k of the file argv[1] (per context an 8-byte length and
   a trajectories message, base64 or binary, written by cbrl_follower_bench), so that timing it against an in-process follower replaying
   the same batches measures what docs/FOLLOWER_PROTOCOL.md itself costs. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  char *frame[64];
  uint64_t len[64];
  int n = 0;
  while (n < 64 && fread(&len[n], 8, 1, f) == 1) {
    frame[n] = malloc(len[n]);
    if (!frame[n] || fread(frame[n], 1, len[n], f) != len[n]) return 2;
    n++;
  }
  fclose(f);
  char *line = NULL;
  size_t cap = 0;
  if (getline(&line, &cap, stdin) < 0) return 0;
  printf("{\"type\":\"hello\",\"protocol\":1,\"name\":\"replay\"}\n");
  fflush(stdout);
  while (getline(&line, &cap, stdin) >= 0) {
    if (strstr(line, "\"type\":\"bye\"")) return 0;
    const char *c = strstr(line, "\"context\":");
    int k = c ? atoi(c + 10) : 0;
    if (k < 0 || k >= n) return 3;
    for (uint64_t off = 0; off < len[k];) { /* one write, not stdio's 4 KiB pieces */
      ssize_t w = write(1, frame[k] + off, len[k] - off);
      if (w <= 0) return 4;
      off += (uint64_t)w;
    }
  }
  return 0;
}
