/* A hostile fixed-output builder: makes its output ($out/data holding
 * "good\n"), keeps a writable descriptor of the file and one of the output
 * directory, and hands both to a host process listening on the abstract Unix
 * socket named by argv[1] (reachable: fixed-output builds share the host's
 * network namespace). It waits for the host's acknowledgement, then exits. */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *out = getenv("out");
    if (argc < 2 || !out)
        return 2;
    if (mkdir(out, 0755) != 0)
        return 3;
    char path[4096];
    snprintf(path, sizeof path, "%s/data", out);
    int fds[2];
    fds[0] = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fds[0] < 0 || write(fds[0], "good\n", 5) != 5)
        return 4;
    fds[1] = open(out, O_RDONLY | O_DIRECTORY);
    if (fds[1] < 0)
        return 5;

    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(argv[1]);
    if (sock < 0 || len + 1 > sizeof addr.sun_path)
        return 6;
    memcpy(addr.sun_path + 1, argv[1], len); /* sun_path[0] == 0: abstract */
    if (connect(sock, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 1 + len) != 0) {
        perror("connect");
        return 7;
    }
    char byte = 'f';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    if (sendmsg(sock, &msg, 0) != 1) {
        perror("sendmsg");
        return 8;
    }
    if (read(sock, &byte, 1) != 1)
        return 9;
    printf("handed out descriptors of %s\n", out);
    return 0;
}
