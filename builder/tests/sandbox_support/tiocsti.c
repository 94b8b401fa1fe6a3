/* A hostile builder: tries to type a command into the terminal b8g runs in
 * (TIOCSTI on its standard descriptors and on /dev/tty) and reports what it
 * managed, and whether it has a controlling terminal, into $out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char keys[] = "echo B8G-INJ" "ECTED\n";

/* Pushes every key into the tty behind fd; 0 or the errno of the first failure. */
static int inject(int fd) {
    for (const char *c = keys; *c; c++)
        if (ioctl(fd, TIOCSTI, c) != 0)
            return errno;
    return 0;
}

int main(void) {
    const char *out = getenv("out");
    FILE *f = out ? fopen(out, "w") : NULL;
    if (!f)
        return 2;
    /* Field 7 of /proc/self/stat is the controlling terminal (0: none). */
    char stat[512] = {0};
    int sfd = open("/proc/self/stat", O_RDONLY);
    if (sfd < 0 || read(sfd, stat, sizeof stat - 1) <= 0)
        return 3;
    char *p = strrchr(stat, ')');
    int ppid, pgrp, session, tty_nr;
    char state;
    if (!p || sscanf(p + 2, "%c %d %d %d %d", &state, &ppid, &pgrp, &session, &tty_nr) != 5)
        return 4;
    fprintf(f, "tty_nr=%d\n", tty_nr);
    fprintf(f, "sid=%d pid=%d\n", (int)getsid(0), (int)getpid());
    for (int fd = 0; fd < 3; fd++)
        fprintf(f, "fd%d=%s\n", fd, inject(fd) ? "refused" : "INJECTED");
    int t = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (t < 0)
        fprintf(f, "devtty=%s\n", strerror(errno));
    else
        fprintf(f, "devtty=%s\n", inject(t) ? "refused" : "INJECTED");
    fclose(f);
    return 0;
}
