/*
 * bench/idle-baseline.ts's measurement for native code (not part of the suite): a fixed workload
 * (an FNV hash over a 2 KB buffer eight times, each byte also updating a 64 KB table), warmed, then
 * timed as the first, second and third call after N ms asleep (or, with `spin`, busy in a loop),
 * against its warm median. It touches far less code than a JavaScript call does (no runtime, no
 * builtins, no heap), so it says how much of the penalty for the first work after a quiet spell is
 * the machine's alone.
 *   gcc -O2 -o /tmp/idle-baseline-native bench/idle-baseline-native.c && /tmp/idle-baseline-native [sleep|spin]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static unsigned char buf[2048];
static unsigned table[16384];

static unsigned work(void) {
  unsigned h = 2166136261u;
  for (int k = 0; k < 8; k++) {
    for (int i = 0; i < 2048; i++) {
      h = (h ^ buf[i]) * 16777619u;
      table[(h >> 7) & 16383] += h;
    }
    for (int i = 0; i < 16384; i += 16) h += table[i];
  }
  return h;
}

static double timed(void) {
  double t = now_ms();
  volatile unsigned r = work();
  (void)r;
  return now_ms() - t;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int spin = argc > 1 && strcmp(argv[1], "spin") == 0;
  for (int i = 0; i < 2048; i++) buf[i] = (unsigned char)(i * 7);
  for (int i = 0; i < 2000; i++) work();
  double w[201];
  for (int i = 0; i < 201; i++) w[i] = timed();
  qsort(w, 201, sizeof(double), by_value);
  double warm = w[100];
  printf("%s: warm median %.4f ms\n", spin ? "spin" : "sleep", warm);
  const double spells[] = {1, 10, 50, 100, 300, 1000, 50, 1000};
  for (size_t j = 0; j < sizeof spells / sizeof spells[0]; j++) {
    for (int i = 0; i < 200; i++) work();
    if (spin) {
      double end = now_ms() + spells[j];
      volatile unsigned long x = 0;
      while (now_ms() < end) x++;
    } else {
      struct timespec s = {(time_t)(spells[j] / 1000), (long)((spells[j] - 1000 * (long)(spells[j] / 1000)) * 1e6)};
      nanosleep(&s, NULL);
    }
    double a = timed(), b = timed(), c = timed();
    printf("after %g ms: first %.4f ms (%.1fx warm), second %.4f, third %.4f\n", spells[j], a, a / warm, b, c);
  }
  return 0;
}
