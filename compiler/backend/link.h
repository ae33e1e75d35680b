/* link.h - turning exac's object file into a training executable: the system
 * C compiler driver links it with libexa (which holds main) and the
 * libraries libexa needs, found relative to exac as the stdlib is. */
#ifndef EXA_LINK_H
#define EXA_LINK_H

/* Links the objects objs (a NULL-terminated list: exac's code, and its GPU
 * code when there is some) into the executable out.  Returns 0, or -1 with a
 * malloc'd one-line *error. */
int link_executable(const char *const *objs, const char *out, char **error);

#endif
