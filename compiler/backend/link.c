/* link.c - running the C compiler driver to link a training executable.
 *
 * The command is run directly (fork and exec, no shell), so paths with
 * spaces or quotes need no escaping.  EXA_CC overrides the driver; the
 * libraries are the ones libexa was built against (recorded by CMake). */
#include "link.h"
#include "link_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *message(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *m = malloc(n);
    if (m)
        snprintf(m, n, fmt, a, b);
    return m;
}

/* <dir of exac>/../lib/libexa.a, as installed and in the build tree. */
static int find_libexa(char *path, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(path, len, "%s/../%s/libexa.a", exe, EXA_LIB_RELDIR);
    return access(path, R_OK);
}

/* Splits a CMake list (a;b;c) into argv entries; returns the count added. */
static int add_list(const char **argv, int at, int max, char *list)
{
    int n = 0;
    for (char *tok = strtok(list, ";"); tok && at + n < max; tok = strtok(NULL, ";"))
        if (*tok)
            argv[at + n++] = tok;
    return n;
}

int link_executable(const char *const *objs, const char *out, char **error)
{
    char libexa[PATH_MAX + 32];
    if (find_libexa(libexa, sizeof libexa) != 0) {
        *error = message("cannot find libexa.a (looked for %s)%s", libexa, "");
        return -1;
    }
    const char *cc = getenv("EXA_CC");
    if (!cc || !*cc)
        cc = EXA_CC;
    char options[] = EXA_LINK_OPTIONS, libs[] = EXA_LINK_LIBS;
    enum { MAX_ARGS = 128 };
    const char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = cc;
    for (int i = 0; objs[i] && n < MAX_ARGS / 2; i++)
        argv[n++] = objs[i];
    argv[n++] = "-o";
    argv[n++] = out;
    n += add_list(argv, n, MAX_ARGS - 8, options);
    argv[n++] = libexa;
    n += add_list(argv, n, MAX_ARGS - 2, libs);
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        *error = message("cannot start the linker %s: %s", cc, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execvp(cc, (char *const *)argv);
        fprintf(stderr, "exac: error: cannot run the linker %s: %s\n", cc, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            *error = message("linking %s failed: the linker %s could not run", out, cc);
        else
            *error = message("linking %s failed (the linker %s reported why above)", out, cc);
        return -1;
    }
    return 0;
}
