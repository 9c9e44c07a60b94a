/* The least a program can do to run a chain of shell steps the way baton runs one: start
 * each `sh -c COMMAND` in a process group of its own (vfork, then setpgid, the three dup2s and
 * execve in the child: the leanest way there is, and the way baton's clone3 works), its stdout
 * and stderr on pipes read through epoll to their end, then wait for it; the next starts when
 * it has ended. No store, no scheduler, no templates. benches/peers/measure.py compiles it and
 * runs it beside the shell loop: what baton takes beyond it is what baton's own work costs.
 * (glibc's posix_spawn took 14 ms more for 500 steps here: it visits every signal's handler
 * in the child.)
 *
 *   spawn_floor N COMMAND      # runs `sh -c COMMAND` N times, one after another
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what) {
    fprintf(stderr, "spawn_floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: spawn_floor N COMMAND\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    char *args[] = {"sh", "-c", argv[2], NULL};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) die("/dev/null");
    for (long i = 0; i < n; i++) {
        int out[2], err[2];
        if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) die("pipe2");
        pid_t pid = vfork();
        if (pid == 0) {
            /* Only system calls until execve: the child shares the parent's memory. */
            if (setpgid(0, 0) == 0 && dup2(devnull, 0) == 0 && dup2(out[1], 1) == 1 &&
                dup2(err[1], 2) == 2)
                execve("/bin/sh", args, environ);
            _exit(127);
        }
        if (pid < 0) die("vfork");
        close(out[1]);
        close(err[1]);
        for (int k = 0; k < 2; k++) {
            int fd = k ? err[0] : out[0];
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) die("epoll_ctl");
        }
        for (int open_ = 2; open_ > 0;) {
            struct epoll_event evs[2];
            int ready = epoll_wait(ep, evs, 2, -1);
            if (ready < 0 && errno != EINTR) die("epoll_wait");
            for (int k = 0; k < ready; k++) {
                char buf[4096];
                if (read(evs[k].data.fd, buf, sizeof buf) <= 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, evs[k].data.fd, NULL);
                    open_--;
                }
            }
        }
        close(out[0]);
        close(err[0]);
        int status;
        if (waitpid(pid, &status, 0) < 0) die("waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "spawn_floor: `sh -c %s` failed\n", argv[2]);
            return 1;
        }
    }
    return 0;
}
