/*
 * hostexec PID PROG [ARG...]: run PROG in the mount namespace of process PID.
 *
 * The node plugin of csi-loop runs in a Pod, but the mounts it makes must be seen by the
 * kubelet, which lives in the node's mount namespace. The test machines' root mount is
 * private, so mount propagation (Bidirectional) cannot carry them out of the container;
 * entering the node's namespace can. A Go program cannot do this itself (setns(CLONE_NEWNS)
 * refuses a multi-threaded caller), hence this small static helper.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: hostexec PID PROG [ARG...]\n");
        return 125;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/mnt", argv[1]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        return 125;
    }
    if (setns(fd, CLONE_NEWNS) != 0) {
        perror("setns");
        return 125;
    }
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    return 127;
}
