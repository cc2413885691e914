/* httpload: a fixed HTTP/1.1 request over a unix socket on N kept-alive
 * connections (one thread each) for a while; prints p50 and p99 latency
 * and requests per second. Blocking sockets, no library.
 *
 *   httpload [-c CONNS] [-d SECONDS] [-w WARMUP] [-p GAP_US] [-X METHOD]
 *            [-H 'K: V']... SOCKET PATH
 *   httpload -F [-d SECONDS] [-w WARMUP]
 *
 * -F measures this machine's floor for a hop instead: one request-sized
 * message to a second process waiting in epoll, as a server does, and its
 * answer, over a unix socket (the two wake-ups any extra process in a
 * request's path costs at least).
 *
 * -p paces each connection: GAP_US microseconds of sleep after each
 * answer, as a client that does something between its requests (the
 * daemons' busy polling helps back-to-back requests, not these).
 *
 * Output, one line: "p50_us=.. p99_us=.. rps=.. n=.. errors=..". A
 * response that is not 2xx, or a connection the server closed, counts as
 * an error (the connection is made again); the exit status is 1 when
 * every request failed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HTTPLOAD_MAX_HEADERS 16
#define HTTPLOAD_BUF	     (256 * 1024)

static struct {
	const char *sock;
	char *req;
	size_t reqlen;
	int conns;
	double secs, warmup;
	long gap_us;
	int64_t start_ns, measure_ns, end_ns;
} httpload;

struct httpload_thread {
	pthread_t tid;
	int64_t *lat;
	size_t n, cap;
	long errors;
	char buf[HTTPLOAD_BUF];
	size_t have; /* bytes in buf */
};

static int64_t
httpload_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
httpload_connect(void)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", httpload.sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads until buf holds at least want bytes; -1 on close or error. */
static int
httpload_fill(struct httpload_thread *t, int fd, size_t want)
{
	ssize_t n;

	if (want > sizeof(t->buf))
		return -1;
	while (t->have < want) {
		n = read(fd, t->buf + t->have, sizeof(t->buf) - t->have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		t->have += (size_t)n;
	}
	return 0;
}

static void
httpload_consume(struct httpload_thread *t, size_t n)
{
	memmove(t->buf, t->buf + n, t->have - n);
	t->have -= n;
}

/* Index just past "\r\n" at or after from, reading more as needed. */
static long
httpload_line(struct httpload_thread *t, int fd, size_t from)
{
	for (;;) {
		for (size_t i = from; i + 1 < t->have; i++)
			if (t->buf[i] == '\r' && t->buf[i + 1] == '\n')
				return (long)(i + 2);
		if (t->have == sizeof(t->buf) ||
		    httpload_fill(t, fd, t->have + 1) == -1)
			return -1;
	}
}

/* Reads one response; its status, or -1 when the connection failed. */
static int
httpload_response(struct httpload_thread *t, int fd)
{
	long end = -1, clen = -1, line;
	int status = 0, chunked = 0;
	char *h;

	for (size_t from = 0;;) {
		if ((line = httpload_line(t, fd, from)) == -1)
			return -1;
		if ((size_t)line == from + 2) {
			end = line;
			break;
		}
		t->buf[line - 2] = '\0';
		h = t->buf + from;
		if (from == 0) {
			if (strncmp(h, "HTTP/1.", 7) != 0 ||
			    strchr(h, ' ') == NULL)
				return -1;
			status = (int)strtol(strchr(h, ' ') + 1, NULL, 10);
		}
		if (strncasecmp(h, "Content-Length:", 15) == 0)
			clen = strtol(h + 15, NULL, 10);
		if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 &&
		    strcasestr(h + 18, "chunked") != NULL)
			chunked = 1;
		from = (size_t)line;
	}
	httpload_consume(t, (size_t)end);
	if (!chunked) {
		if (clen < 0 || httpload_fill(t, fd, (size_t)clen) == -1)
			return -1;
		httpload_consume(t, (size_t)clen);
		return status;
	}
	for (;;) {
		long size;

		if ((line = httpload_line(t, fd, 0)) == -1)
			return -1;
		size = strtol(t->buf, NULL, 16);
		httpload_consume(t, (size_t)line);
		if (size == 0) {
			/* No trailers: the empty line ends it. */
			if (httpload_fill(t, fd, 2) == -1)
				return -1;
			httpload_consume(t, 2);
			return status;
		}
		if (httpload_fill(t, fd, (size_t)size + 2) == -1)
			return -1;
		httpload_consume(t, (size_t)size + 2);
	}
}

static int
httpload_send(int fd)
{
	size_t off = 0;
	ssize_t n;

	while (off < httpload.reqlen) {
		n = send(fd, httpload.req + off, httpload.reqlen - off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static void *
httpload_run(void *arg)
{
	struct httpload_thread *t = arg;
	int fd = -1, status;
	int64_t t0, t1;

	while ((t0 = httpload_now()) < httpload.end_ns) {
		if (fd == -1) {
			t->have = 0;
			if ((fd = httpload_connect()) == -1) {
				t->errors++;
				usleep(1000);
				continue;
			}
		}
		if (httpload_send(fd) == -1 ||
		    (status = httpload_response(t, fd)) == -1) {
			close(fd);
			fd = -1;
			t->errors++;
			continue;
		}
		t1 = httpload_now();
		if (httpload.gap_us > 0)
			usleep((useconds_t)httpload.gap_us);
		if (t0 < httpload.measure_ns)
			continue;
		if (status < 200 || status > 299) {
			t->errors++;
			continue;
		}
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 4096;
			t->lat = realloc(t->lat, t->cap * sizeof(*t->lat));
			if (t->lat == NULL) {
				perror("httpload");
				exit(2);
			}
		}
		t->lat[t->n++] = t1 - t0;
	}
	if (fd != -1)
		close(fd);
	return NULL;
}

static int
httpload_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* A message the size of a small request, and the answer's size. */
#define HTTPLOAD_FLOOR_ASK    56
#define HTTPLOAD_FLOOR_ANSWER 160

/* The far end of -F: answers every message it reads, waiting in epoll. */
static void
httpload_floor_echo(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	char b[HTTPLOAD_FLOOR_ANSWER];
	int ep = epoll_create1(0);

	memset(b, 'a', sizeof(b));
	if (ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		_exit(1);
	for (;;) {
		if (epoll_wait(ep, &ev, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (read(fd, b, sizeof(b)) <= 0)
			_exit(0);
		if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
			_exit(1);
	}
}

/* -F: round trips to a forked echo process; prints as a load run does. */
static int
httpload_floor(void)
{
	char ask[HTTPLOAD_FLOOR_ASK], b[HTTPLOAD_FLOOR_ANSWER];
	int64_t t0, *lat = NULL;
	size_t n = 0, cap = 0, p50, p99;
	int sv[2], st;
	pid_t pid;

	memset(ask, 'q', sizeof(ask));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 2;
	if ((pid = fork()) == -1)
		return 2;
	if (pid == 0) {
		close(sv[0]);
		httpload_floor_echo(sv[1]);
	}
	close(sv[1]);
	httpload.start_ns = httpload_now();
	httpload.measure_ns =
	    httpload.start_ns + (int64_t)(httpload.warmup * 1e9);
	httpload.end_ns = httpload.measure_ns + (int64_t)(httpload.secs * 1e9);
	while ((t0 = httpload_now()) < httpload.end_ns) {
		size_t got = 0;

		if (write(sv[0], ask, sizeof(ask)) != (ssize_t)sizeof(ask))
			break;
		while (got < sizeof(b)) {
			ssize_t r = read(sv[0], b + got, sizeof(b) - got);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got < sizeof(b))
			break;
		if (t0 < httpload.measure_ns)
			continue;
		if (n == cap) {
			int64_t *more;

			cap = cap ? cap * 2 : 4096;
			if ((more = realloc(lat, cap * sizeof(*lat))) == NULL) {
				free(lat);
				return 2;
			}
			lat = more;
		}
		lat[n++] = httpload_now() - t0;
	}
	close(sv[0]);
	waitpid(pid, &st, 0);
	if (n == 0) {
		printf("p50_us=- p99_us=- rps=0 n=0 errors=1\n");
		return 1;
	}
	qsort(lat, n, sizeof(*lat), httpload_cmp);
	p50 = n / 2;
	p99 = n * 99 / 100;
	printf("p50_us=%.1f p99_us=%.1f rps=%.0f n=%zu errors=0\n",
	    (double)lat[p50] / 1e3, (double)lat[p99] / 1e3,
	    (double)n / httpload.secs, n);
	free(lat);
	return 0;
}

static void
httpload_usage(void)
{
	fprintf(stderr,
	    "usage: httpload [-c CONNS] [-d SECONDS] [-w WARMUP] [-p GAP_US] "
	    "[-X METHOD] [-H 'Name: value']... SOCKET PATH\n"
	    "       httpload -F [-d SECONDS] [-w WARMUP]\n");
	exit(2);
}

/* A number option, or the usage on anything else. */
static double
httpload_num(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0')
		httpload_usage();
	return v;
}

int
main(int argc, char **argv)
{
	const char *method = "GET", *hdr[HTTPLOAD_MAX_HEADERS];
	struct httpload_thread *th;
	int64_t *all;
	size_t total = 0, k = 0, len, p50, p99;
	long errors = 0;
	int nh = 0, c, floor_mode = 0;

	httpload.conns = 1;
	httpload.secs = 2;
	httpload.warmup = 0.3;
	while ((c = getopt(argc, argv, "c:d:w:p:X:H:F")) != -1) {
		switch (c) {
		case 'F':
			floor_mode = 1;
			break;
		case 'c':
			httpload.conns = (int)httpload_num(optarg);
			break;
		case 'd':
			httpload.secs = httpload_num(optarg);
			break;
		case 'w':
			httpload.warmup = httpload_num(optarg);
			break;
		case 'p':
			httpload.gap_us = (long)httpload_num(optarg);
			break;
		case 'X':
			method = optarg;
			break;
		case 'H':
			if (nh == HTTPLOAD_MAX_HEADERS)
				httpload_usage();
			hdr[nh++] = optarg;
			break;
		default:
			httpload_usage();
		}
	}
	if (floor_mode) {
		if (argc != optind || httpload.secs <= 0 || httpload.warmup < 0)
			httpload_usage();
		return httpload_floor();
	}
	if (argc - optind != 2 || httpload.conns < 1 || httpload.conns > 1024 ||
	    httpload.secs <= 0 || httpload.warmup < 0)
		httpload_usage();
	httpload.sock = argv[optind];
	len = strlen(method) + strlen(argv[optind + 1]) + 64;
	for (int i = 0; i < nh; i++)
		len += strlen(hdr[i]) + 2;
	if ((httpload.req = malloc(len)) == NULL)
		return 2;
	httpload.reqlen = (size_t)snprintf(httpload.req, len,
	    "%s %s HTTP/1.1\r\nHost: localhost\r\n", method, argv[optind + 1]);
	for (int i = 0; i < nh; i++)
		httpload.reqlen +=
		    (size_t)snprintf(httpload.req + httpload.reqlen,
			len - httpload.reqlen, "%s\r\n", hdr[i]);
	httpload.reqlen += (size_t)snprintf(
	    httpload.req + httpload.reqlen, len - httpload.reqlen, "\r\n");
	if ((th = calloc((size_t)httpload.conns, sizeof(*th))) == NULL)
		return 2;
	httpload.start_ns = httpload_now();
	httpload.measure_ns =
	    httpload.start_ns + (int64_t)(httpload.warmup * 1e9);
	httpload.end_ns = httpload.measure_ns + (int64_t)(httpload.secs * 1e9);
	for (int i = 0; i < httpload.conns; i++)
		if (pthread_create(&th[i].tid, NULL, httpload_run, &th[i]) !=
		    0) {
			perror("httpload: pthread_create");
			return 2;
		}
	for (int i = 0; i < httpload.conns; i++) {
		pthread_join(th[i].tid, NULL);
		total += th[i].n;
		errors += th[i].errors;
	}
	if ((all = malloc((total ? total : 1) * sizeof(*all))) == NULL)
		return 2;
	for (int i = 0; i < httpload.conns; i++) {
		memcpy(all + k, th[i].lat, th[i].n * sizeof(*all));
		k += th[i].n;
		free(th[i].lat);
	}
	qsort(all, total, sizeof(*all), httpload_cmp);
	if (total == 0) {
		printf("p50_us=- p99_us=- rps=0 n=0 errors=%ld\n", errors);
		return 1;
	}
	p50 = total / 2;
	p99 = total * 99 / 100;
	printf("p50_us=%.1f p99_us=%.1f rps=%.0f n=%zu errors=%ld\n",
	    (double)all[p50] / 1e3, (double)all[p99] / 1e3,
	    (double)total / httpload.secs, total, errors);
	free(all);
	free(th);
	free(httpload.req);
	return 0;
}
