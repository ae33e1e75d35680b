/* npy_write.c - writing one array as a NumPy .npy file (exa/npy.h).
 *
 * Written to a temporary name and renamed, so that a reader never sees half
 * an array under the final name. */
#include "exa/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int exa_npy_write(const char *path, const void *data, char kind, int size, const ExaShape *shape,
                  char *err, size_t errlen)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<%c%d', 'fortran_order': False, 'shape': (", kind, size);
    int64_t count = 1;
    for (int i = 0; i < shape->rank; i++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape->dim[i],
                      shape->rank == 1 || i + 1 < shape->rank ? ", " : "");
        count *= shape->dim[i];
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* magic (6) + version (2) + length (2) + dict + blanks + '\n': a multiple of 64 */
    int total = (10 + n + 1 + 63) / 64 * 64;
    char header[320];
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    int hlen = total - 10;
    header[8] = (char)(hlen & 0xff);
    header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)n);
    memset(header + 10 + n, ' ', (size_t)(total - 10 - n - 1));
    header[total - 1] = '\n';
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "exa: %s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(header, 1, (size_t)total, f) == (size_t)total
             && fwrite(data, (size_t)size, (size_t)count, f) == (size_t)count;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "exa: %s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
