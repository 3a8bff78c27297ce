/*
 * Stand-in for limactl as it really is: a compiled program, not a script, for the tests that
 * limactl's version is asked on every run and for `npm run bench`. It records the call in
 * $FAKE_DIR/calls, as record.sh does, and answers --version with
 * "limactl version $FAKE_LIMA_VERSION" (default 2.0.3). test/helpers.ts compiles it with cc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *dir = getenv("FAKE_DIR");
  if (dir == NULL) {
    fputs("limactl stand-in: FAKE_DIR is not set: stand-ins run only inside a test sandbox\n", stderr);
    return 2;
  }
  char calls[4096];
  snprintf(calls, sizeof calls, "%s/calls", dir);
  FILE *f = fopen(calls, "a");
  if (f == NULL) return 2;
  fputs("limactl", f);
  for (int i = 1; i < argc; i++) fprintf(f, "\t%s", argv[i]);
  fputc('\n', f);
  fclose(f);
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    const char *version = getenv("FAKE_LIMA_VERSION");
    printf("limactl version %s\n", version != NULL ? version : "2.0.3");
  }
  return 0;
}
