// libc/POSIX for both compilation modes: the Embedded targets (`*-none-*`) have no Glibc module,
// so everything PGUI needs from the C library comes through here.
#ifndef PGUI_CSYSTEM_SHIM_H
#define PGUI_CSYSTEM_SHIM_H
// readdir64: 32-bit readdir fails with EOVERFLOW on ext4's 64-bit directory hashes (seen under qemu-arm).
#ifndef _LARGEFILE64_SOURCE
#define _LARGEFILE64_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <termios.h>
#include <linux/watchdog.h>
#include <netdb.h>

static inline int pgui_errno(void) { return errno; }
static inline void pgui_set_errno(int e) { errno = e; }

// open(2) and fcntl(2) are variadic; Swift cannot call variadic C functions.
static inline int pgui_open(const char *path, int flags, unsigned mode) { return open(path, flags, (mode_t)mode); }
static inline int pgui_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }
static inline int pgui_ioctl_int(int fd, unsigned long req, int *arg) { return ioctl(fd, req, arg); }

// WDIOC_* are function-like macros (_IOWR), which Swift does not import.
static inline int pgui_watchdog_set_timeout(int fd, int *seconds) { return ioctl(fd, WDIOC_SETTIMEOUT, seconds); }

// Signals are taken synchronously through a signalfd owned by the event loop.
static inline int pgui_signalfd_for_stop(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static inline int64_t pgui_clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static inline int64_t pgui_realtime_ms(void) { return pgui_clock_ms(CLOCK_REALTIME); }
static inline int64_t pgui_monotonic_ms(void) { return pgui_clock_ms(CLOCK_MONOTONIC); }

// Arms a timerfd (monotonic) to fire after first_ms and then every interval_ms.
static inline int pgui_timerfd_arm(int fd, int64_t first_ms, int64_t interval_ms) {
    struct itimerspec its;
    its.it_value.tv_sec = first_ms / 1000;
    its.it_value.tv_nsec = (first_ms % 1000) * 1000000;
    if (first_ms == 0) its.it_value.tv_nsec = 1; // zero would disarm
    its.it_interval.tv_sec = interval_ms / 1000;
    its.it_interval.tv_nsec = (interval_ms % 1000) * 1000000;
    return timerfd_settime(fd, 0, &its, NULL);
}

// The C global `stderr` is not concurrency-safe in Swift 6 mode; write(2) to fd 2 instead.
static inline long pgui_write_stderr(const void *buf, unsigned long len) { return write(2, buf, len); }
static inline long pgui_write_stdout(const void *buf, unsigned long len) { return write(1, buf, len); }

static inline int pgui_is_regular(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return S_ISREG(st.st_mode) ? 1 : 0;
}
static inline int pgui_is_dir(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return S_ISDIR(st.st_mode) ? 1 : 0;
}
/* Serial ports for the meters that speak on a UART (DLMS/HDLC, DSMR P1, SML, IEC 62056-21): raw
 * mode, no flow control, the given speed and frame. parity: 0 none, 1 even, 2 odd. Returns 0, or -1
 * with errno (EINVAL for a speed or frame termios cannot express). */
static inline int pgui_serial_configure(int fd, unsigned baud, int data_bits, int parity, int stop_bits) {
    speed_t speed;
    switch (baud) {
    case 300: speed = B300; break;
    case 600: speed = B600; break;
    case 1200: speed = B1200; break;
    case 2400: speed = B2400; break;
    case 4800: speed = B4800; break;
    case 9600: speed = B9600; break;
    case 19200: speed = B19200; break;
    case 38400: speed = B38400; break;
    case 57600: speed = B57600; break;
    case 115200: speed = B115200; break;
    default: errno = EINVAL; return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) return -1;
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    t.c_cflag |= CREAD | CLOCAL;
    if (data_bits == 7) t.c_cflag |= CS7; else if (data_bits == 8) t.c_cflag |= CS8; else { errno = EINVAL; return -1; }
    if (parity == 1) t.c_cflag |= PARENB; else if (parity == 2) t.c_cflag |= PARENB | PARODD;
    if (stop_bits == 2) t.c_cflag |= CSTOPB;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, speed) != 0 || cfsetospeed(&t, speed) != 0) return -1;
    return tcsetattr(fd, TCSANOW, &t);
}
static inline int pgui_etimedout(void) { return ETIMEDOUT; }
static inline int pgui_serial_flush_input(int fd) { return tcflush(fd, TCIFLUSH); }
static inline int pgui_serial_drain(int fd) { return tcdrain(fd); }
/* 64 random bits from the kernel (getrandom, blocking only before the pool is first seeded at boot);
 * for jitter, never for keys (those come from mbedTLS's CTR-DRBG). */
static inline unsigned long long pgui_random_u64(void) {
    unsigned long long v = 0;
    while (getrandom(&v, sizeof v, 0) < 0 && errno == EINTR) {}
    return v;
}
static inline long pgui_file_mode(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (long)(st.st_mode & 07777);
}
static inline long long pgui_file_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    return (long long)st.st_size;
}
// Resident set size in KiB from /proc/self/statm (for footprint figures).
static inline long pgui_rss_kib(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}
// Heap bytes in use: glibc's mallinfo2 (2.33+; every arena) chunks handed out plus mmapped ones.
// -1 where the C library has no mallinfo2. Walks the free lists under the arena locks: for metrics
// and benchmarks, not for hot paths.
static inline long long pgui_heap_in_use_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (long long)(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}
// readdir(3) without touching `struct dirent` layout from Swift: the next regular file's name into
// buf (NUL-terminated); returns 1 for a file, 0 at the end, -1 on error. Other entry types are skipped.
static inline int pgui_readdir_file(DIR *d, char *buf, unsigned long cap) {
    for (;;) {
        errno = 0;
        struct dirent64 *e = readdir64(d);  // 32-bit readdir fails under qemu-arm (64-bit inodes)
        if (!e) return errno ? -1 : 0;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN) continue;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        }
        size_t n = strlen(e->d_name);
        if (n + 1 > cap) continue;
        memcpy(buf, e->d_name, n + 1);
        return 1;
    }
}
static inline int pgui_mkdir(const char *path, unsigned mode) { return mkdir(path, (mode_t)mode); }
// 0 when `host` resolves to an IPv4/IPv6 TCP address, else getaddrinfo's error code (gai_strerror).
static inline int pgui_resolve_check(const char *host, const char *port) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (res) freeaddrinfo(res);
    return rc;
}

// The journal (PGUIPlatform/JournalFile.swift): positioned I/O on a ring below 2 GiB (off_t is 32 bits
// on armv7 without _FILE_OFFSET_BITS=64, so the geometry caps the file size).
static inline long pgui_pread(int fd, void *buf, unsigned long len, long long off) { return pread(fd, buf, len, (off_t)off); }
static inline long pgui_pwrite(int fd, const void *buf, unsigned long len, long long off) { return pwrite(fd, buf, len, (off_t)off); }
// Next entry name of an open directory; NULL at the end (errno 0) or on an error (errno set).
static inline const char *pgui_readdir_name(DIR *d) {
    errno = 0;
    struct dirent64 *e = readdir64(d);
    return e ? e->d_name : NULL;
}
// Bytes available to an unprivileged writer on the file system holding `path`, -1 on error.
static inline long long pgui_free_bytes(const char *path) {
    struct statvfs v;
    if (statvfs(path, &v) != 0) return -1;
    return (long long)v.f_bavail * (long long)v.f_frsize;
}
// Evicts a file's clean pages so a benchmark reads from the device, not the page cache.
static inline int pgui_drop_cache(int fd) { fdatasync(fd); return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); }
// No readahead on the ring: reads then fill the page cache with single pages, and a later 2 KiB
// record write dirties (and writes back) one 4 KiB page instead of a whole large folio.
static inline int pgui_fadvise_random(int fd) { return posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM); }
// A full recovery scan reads the whole ring in order: readahead on for it, and afterwards its (large)
// page-cache folios dropped so later record writes are back to single pages.
static inline int pgui_fadvise_sequential(int fd) { return posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); }
static inline int pgui_fadvise_scan_done(int fd) {
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    return posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
}
static inline int pgui_flock_exclusive(int fd) { return flock(fd, LOCK_EX | LOCK_NB); }
// Bytes this process caused to be sent to the storage layer (/proc/self/io write_bytes), -1 if unknown.
static inline long long pgui_io_write_bytes(void) {
    char line[128];
    long long v = -1;
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "write_bytes: ", 13) == 0) { v = atoll(line + 13); break; }
    }
    fclose(f);
    return v;
}

// EMS servers (set-points): each server keeps its client sockets in its own epoll set, and the
// event loop polls that one descriptor. `struct epoll_event` is packed on x86_64, so it never
// crosses into Swift: these helpers pass plain ints.
static inline int pgui_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int pgui_epoll_ctl(int ep, int op, int fd, unsigned events, unsigned long long data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(ep, op, fd, &ev);
}
// Waits up to timeout_ms; fills data[i]/events[i] for at most max (<= 64) ready descriptors.
static inline int pgui_epoll_wait(int ep, unsigned long long *data, unsigned *events, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(ep, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) { data[i] = evs[i].data.u64; events[i] = evs[i].events; }
    return n;
}
static inline int pgui_set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}
// accept(2) of one client, made non-blocking and close-on-exec; -1 with errno on failure.
static inline int pgui_accept_nonblocking(int fd) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) return -1;
    if (pgui_set_nonblocking(c) != 0 || fcntl(c, F_SETFD, FD_CLOEXEC) != 0) { int e = errno; close(c); errno = e; return -1; }
    return c;
}
// Accepts one EMS client: non-blocking, close-on-exec, TCP_NODELAY (answers are a few bytes; with
// Nagle and delayed ACKs a pipelined Modbus request waited 44-48 ms instead of 0.1 ms, issue 14);
// the peer's IPv4 address in host byte order goes to *peer (0 when not IPv4). -1 with errno.
static inline int pgui_accept_client(int fd, uint32_t *peer) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    int c = accept(fd, (struct sockaddr *)&a, &len);
    if (c < 0) return -1;
    if (pgui_set_nonblocking(c) != 0 || fcntl(c, F_SETFD, FD_CLOEXEC) != 0) { int e = errno; close(c); errno = e; return -1; }
    int one = 1;
    if (setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) { int e = errno; close(c); errno = e; return -1; }
    *peer = a.sin_family == AF_INET ? ntohl(a.sin_addr.s_addr) : 0;
    return c;
}
// 1 when this host can bind the IPv4 address (it is one of its own), else 0 with errno.
static inline int pgui_is_local_ipv4(const char *ip) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { errno = EINVAL; return 0; }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    int e = errno;
    close(fd);
    errno = e;
    return ok;
}
// A non-blocking IPv4 TCP listener on ip:port (SO_REUSEADDR); -1 with errno on failure.
static inline int pgui_tcp_listen(const char *ip, int port, int backlog) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { errno = EINVAL; return -1; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}
// A TCP client connection to host:port within timeout_ms (DLMS/COSEM TCP wrapper meters,
// PGUIPlatform/TCPLink.swift): non-blocking, close-on-exec; -1 with errno (or EAI error as
// -1000 - rc from getaddrinfo) on failure.
static inline int pgui_tcp_connect(const char *host, const char *port, int timeout_ms) {
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) { errno = EHOSTUNREACH; return -1000 - (rc < 0 ? -rc : rc); }
    int fd = -1, err = ECONNREFUSED;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { err = errno; continue; }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd p = { fd, POLLOUT, 0 };
            int r = poll(&p, 1, timeout_ms);
            int soerr = 0; socklen_t sl = sizeof soerr;
            if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) break;
            err = r == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) { errno = err; return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}
static inline long pgui_send_nosignal(int fd, const void *buf, unsigned long len) { return send(fd, buf, len, MSG_NOSIGNAL); }
// A mutex whose storage C allocates and sizes, so nothing relies on Swift's import of
// pthread_mutex_t for the `*-none-*` targets (MQTT mailbox, PGUIPlatform/MQTT).
static inline void *pgui_mutex_create(void) {
    pthread_mutex_t *m = (pthread_mutex_t *)malloc(sizeof *m);
    if (m && pthread_mutex_init(m, NULL) != 0) { free(m); return NULL; }
    return m;
}
static inline void pgui_mutex_lock(void *m) { pthread_mutex_lock((pthread_mutex_t *)m); }
static inline void pgui_mutex_unlock(void *m) { pthread_mutex_unlock((pthread_mutex_t *)m); }
static inline void pgui_mutex_destroy(void *m) { pthread_mutex_destroy((pthread_mutex_t *)m); free(m); }
// Process hardening at start-up (issue 21): no core dump may carry the BAL password or the device
// key, whatever the image's core_pattern says. Returns 0, or the errno of the step that failed.
#include <sys/prctl.h>
static inline int pgui_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) return errno;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return errno;
    return 0;
}
static inline int pgui_is_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
static inline long long pgui_core_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_CORE, &r) != 0) return -1;
    return (long long)r.rlim_cur;
}

#endif
