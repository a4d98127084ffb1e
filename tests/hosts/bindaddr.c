/*
 * bindaddr.c - LD_PRELOAD shim for the end-to-end test hosts (tests/hosts/).
 *
 * In:  env MIRRORSET_BIND_ADDR=127.0.N.i (unset or empty: the shim does nothing).
 * Out: every AF_INET socket that connect(2)s to a 127.0.0.0/8 destination is
 *      first bound to MIRRORSET_BIND_ADDR, port 0, so the connection comes
 *      from the fake host's own loopback address instead of 127.0.0.1
 *      (pg_stat_replication.client_addr shows 127.0.N.i and pg_hba /32 lines
 *      really matter). A socket that is already bound (bind fails with
 *      EINVAL, e.g. a retried non-blocking connect) or any other bind failure
 *      is left alone: the real connect(2) runs in every case, errno intact.
 *
 * Build: gcc -shared -fPIC -O2 -o bindaddr.so bindaddr.c -ldl
 * (done by tests/hosts/up.sh into its state directory).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static connect_fn real_connect;
    if (real_connect == NULL) {
        real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
        if (real_connect == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }

    const char *src = getenv("MIRRORSET_BIND_ADDR");
    if (src != NULL && *src != '\0' && addr != NULL &&
        len >= (socklen_t)sizeof(struct sockaddr_in) &&
        addr->sa_family == AF_INET) {
        const struct sockaddr_in *dst = (const struct sockaddr_in *)addr;
        if ((ntohl(dst->sin_addr.s_addr) >> 24) == 127) {
            struct sockaddr_in me;
            memset(&me, 0, sizeof me);
            me.sin_family = AF_INET;
            me.sin_port = 0;
            if (inet_pton(AF_INET, src, &me.sin_addr) == 1) {
                int saved = errno;
                /* EINVAL = already bound: fine. Other errors: connect anyway. */
                (void)bind(fd, (const struct sockaddr *)&me, sizeof me);
                errno = saved;
            }
        }
    }
    return real_connect(fd, addr, len);
}
