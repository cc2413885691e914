/* udpecho: the test bed's UDP tool (busybox's nc has no -u and no UDP
 * server applet). Built with `cc -static -O2` by tests/bed/bed.sh into the
 * image sockerless/udp:latest.
 *
 *   udpecho serve PORT [ADDR]
 *     binds ADDR:PORT (default 0.0.0.0) and echoes every datagram back to
 *     its sender, unchanged; prints one line per datagram:
 *     "<bytes> <sender-ip>:<port>".
 *   udpecho send HOST PORT MSG [TIMEOUT_S]
 *     resolves HOST with getaddrinfo (files, then DNS: the resolver of the
 *     container's /etc/resolv.conf), sends MSG as one datagram, prints the
 *     reply (its bytes, then a newline) and exits 0; exits 1 when no reply
 *     came in TIMEOUT_S seconds (default 5), 2 on a usage or resolve error.
 *     Resent once a second until the reply or the timeout (UDP may drop
 *     the first datagram while a relay's flow is opened).
 *   udpecho burst HOST PORT TIMEOUT_S SIZE...
 *     sends one datagram of each SIZE (1..65507 bytes; byte j of the i-th
 *     is 'a' + (i + j) % 26) back to back from one socket, then prints a
 *     line per reply: "reply <bytes> ok" when it is one of the datagrams
 *     whole, else "reply <bytes> bad"; the unanswered ones are resent
 *     each second. Exits 0 once every one came back, 1 on timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BUF = 65536 };

static int
usage(void)
{
	fprintf(stderr,
	    "usage: udpecho serve PORT [ADDR] | udpecho send HOST PORT MSG [TIMEOUT_S]"
	    " | udpecho burst HOST PORT TIMEOUT_S SIZE...\n");
	return 2;
}

static int
parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

static int
serve(const char *port_s, const char *addr)
{
	static char buf[BUF];
	int port = parse_port(port_s);
	struct sockaddr_in a = { 0 };
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (port < 0 || (addr && inet_pton(AF_INET, addr, &a.sin_addr) != 1))
		return usage();
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("udpecho: socket/bind");
		if (fd >= 0)
			close(fd);
		return 2;
	}
	printf("listening udp %d\n", port);
	fflush(stdout);
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(
		    fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recvfrom");
			return 2;
		}
		char ip[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
		printf("%zd %s:%u\n", n, ip, (unsigned)ntohs(from.sin_port));
		fflush(stdout);
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from,
			fl) < 0)
			perror("sendto");
	}
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
parse_timeout(const char *s, double *out)
{
	char *end;
	*out = strtod(s, &end);
	return *s != '\0' && *end == '\0' && *out > 0 ? 0 : -1;
}

/* A UDP socket connected to HOST:PORT (getaddrinfo), or -1 (reported). */
static int
dial(const char *host, const char *port_s)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	int rc = getaddrinfo(host, port_s, &hints, &res);
	if (rc != 0 || !res) {
		fprintf(stderr, "udpecho: %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		perror("udpecho: socket/connect");
	freeaddrinfo(res);
	return fd;
}

/* Waits up to ms for a datagram on fd: its length, 0 when none came, -1 on
 * an error (reported). An ICMP port unreachable (no server yet) is none. */
static ssize_t
recv_wait(int fd, char *buf, size_t cap, int ms)
{
	double until = now_s() + ms / 1000.0;
	for (;;) {
		int left = (int)((until - now_s()) * 1000);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, left < 0 ? 0 : left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return 0;
		ssize_t n = recv(fd, buf, cap, 0);
		if (n >= 0)
			return n == 0 ? 0 : n;
		if (errno != ECONNREFUSED && errno != EINTR) {
			perror("udpecho: recv");
			return -1;
		}
	}
}

/* Milliseconds to wait before the next resend: a second, or what is left. */
static int
next_wait(double end)
{
	double left = end - now_s();
	return left <= 0 ? -1 : left > 1 ? 1000 : (int)(left * 1000) + 1;
}

static int
send_one(const char *host, const char *port_s, const char *msg,
    const char *timeout_s)
{
	static char buf[BUF];
	double timeout = 5;
	if (parse_port(port_s) < 0 ||
	    (timeout_s && parse_timeout(timeout_s, &timeout) < 0))
		return usage();
	int fd = dial(host, port_s);
	if (fd < 0)
		return 2;
	size_t len = strlen(msg);
	double end = now_s() + timeout;
	int ms;
	while ((ms = next_wait(end)) >= 0) {
		if (send(fd, msg, len, 0) < 0 && errno != ECONNREFUSED)
			perror("udpecho: send");
		ssize_t n = recv_wait(fd, buf, sizeof buf, ms);
		if (n < 0)
			return 2;
		if (n > 0) {
			fwrite(buf, 1, (size_t)n, stdout);
			fputc('\n', stdout);
			return fflush(stdout) == 0 ? 0 : 2;
		}
	}
	fprintf(stderr, "udpecho: no reply from %s:%s in %gs\n", host, port_s,
	    timeout);
	return 1;
}

enum { BURST_MAX = 16 };

static int
burst(int argc, char **argv)
{
	static char buf[BUF], msg[BURST_MAX][BUF];
	size_t size[BURST_MAX];
	int done[BURST_MAX] = { 0 }, n = argc - 4, left = n;
	double timeout;
	if (n < 1 || n > BURST_MAX || parse_port(argv[2]) < 0 ||
	    parse_timeout(argv[3], &timeout) < 0)
		return usage();
	for (int i = 0; i < n; i++) {
		char *end;
		long v = strtol(argv[4 + i], &end, 10);
		if (*argv[4 + i] == '\0' || *end != '\0' || v < 1 || v > 65507)
			return usage();
		size[i] = (size_t)v;
		for (size_t j = 0; j < size[i]; j++)
			msg[i][j] = (char)('a' + ((size_t)i + j) % 26);
	}
	int fd = dial(argv[1], argv[2]);
	if (fd < 0)
		return 2;
	double end = now_s() + timeout;
	int ms;
	while (left > 0 && (ms = next_wait(end)) >= 0) {
		for (int i = 0; i < n; i++)
			if (!done[i] && send(fd, msg[i], size[i], 0) < 0 &&
			    errno != ECONNREFUSED)
				perror("udpecho: send");
		double until = now_s() + ms / 1000.0;
		while (left > 0 && now_s() < until) {
			ssize_t got = recv_wait(fd, buf, sizeof buf,
			    (int)((until - now_s()) * 1000) + 1);
			if (got < 0)
				return 2;
			if (got == 0)
				break;
			int match = -1;
			for (int i = 0; i < n && match < 0; i++)
				if (size[i] == (size_t)got &&
				    memcmp(msg[i], buf, size[i]) == 0)
					match = i;
			printf(
			    "reply %zd %s\n", got, match >= 0 ? "ok" : "bad");
			if (match >= 0 && !done[match]) {
				done[match] = 1;
				left--;
			}
		}
	}
	fflush(stdout);
	if (left > 0) {
		fprintf(stderr,
		    "udpecho: %d of %d datagrams unanswered in %gs\n", left, n,
		    timeout);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argc == 4 ? argv[3] : NULL);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "send") == 0)
		return send_one(
		    argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
	if (argc >= 5 && strcmp(argv[1], "burst") == 0)
		return burst(argc - 1, argv + 1);
	return usage();
}
