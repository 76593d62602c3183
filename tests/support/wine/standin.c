/* A stand-in for ssh.exe, scp.exe or tar.exe (TOOL, set at build time) in the windows test layer.
 * Appends one line to %STANDIN_LOG%: the working folder, then the tool's name and each argument
 * as the C runtime parsed them (as the real tools see them), separated by tabs. Prints
 * %STANDIN_STDOUT% (if set) on stdout, as the server's answer. Exits 0, or %STANDIN_FAIL_CODE%
 * (e.g. 255, 0xC000013A) when this is call number %STANDIN_FAIL_AT% in the log (1 = first). */
#include <direct.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int _dowildcard = 0; /* pass "--exclude=*.py[cod]" as typed, as the real tools receive it */

static int calls_so_far(const char *log) {
    FILE *f = fopen(log, "rb");
    int lines = 0, c;
    if (!f) return 0;
    while ((c = fgetc(f)) != EOF) lines += c == '\n';
    fclose(f);
    return lines;
}

int main(int argc, char **argv) {
    const char *log = getenv("STANDIN_LOG"), *out = getenv("STANDIN_STDOUT");
    const char *fail_at = getenv("STANDIN_FAIL_AT"), *fail_code = getenv("STANDIN_FAIL_CODE");
    char cwd[4096];
    int call;
    FILE *f;
    if (!log) {
        fprintf(stderr, "%s stand-in: STANDIN_LOG is not set\n", TOOL);
        return 2;
    }
    call = calls_so_far(log) + 1;
    f = fopen(log, "ab");
    if (!f || !_getcwd(cwd, sizeof cwd)) {
        /* Said on stderr: the test then shows why a run logged no call. */
        fprintf(stderr, "%s stand-in: cannot append to %s or read the folder: %s\n", TOOL, log,
                strerror(errno));
        return 2;
    }
    fprintf(f, "%s\t%s", cwd, TOOL);
    for (int i = 1; i < argc; i++) fprintf(f, "\t%s", argv[i]);
    fputc('\n', f);
    fclose(f);
    if (out) printf("%s\n", out);
    if (fail_at && fail_code && atoi(fail_at) == call) return (int)strtoul(fail_code, NULL, 0);
    return 0;
}
