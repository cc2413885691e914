/* A forked one-connection-at-a-time HTTP server for the GCP unit tests
 * (t_gcp*.c): it answers the replies in order (the last one again once
 * they run out, for operations that never finish) and appends every raw
 * request to a log file. Replies are made with gcp_srv_reply. */
#ifndef T_GCP_SRV_H
#define T_GCP_SRV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "sockerless/gcp_auth.h"
#include "sockerless/httpcli.h"
#include "sockerless/xmalloc.h"

struct gcp_srv {
	pid_t pid;
	int port;
	char log[64];
	struct event_base *base;
	struct httpcli *http;
	int done; /* callbacks seen */
};

/* "HTTP/1.1 <status>" with extra header lines (each ending \r\n) and a
 * JSON body. */
static char *
gcp_srv_reply(const char *status, const char *headers, const char *body)
{
	return xasprintf("HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
			 "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, headers != NULL ? headers : "", strlen(body), body);
}

/* Reads one request (headers and Content-Length body) into req. */
static size_t
gcp_srv_read(int s, char *req, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	char *hend, *cl;

	while (n < cap - 1 && (k = read(s, req + n, cap - 1 - n)) > 0) {
		n += (size_t)k;
		req[n] = '\0';
		if ((hend = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(req, "Content-Length:");
		if (cl == NULL ||
		    (size_t)(hend + 4 - req) + strtoul(cl + 15, NULL, 10) <= n)
			break;
	}
	req[n] = '\0';
	return n;
}

static void
gcp_srv_child(int ls, char **replies, const char *log)
{
	static char req[65536];
	size_t i = 0;

	for (;;) {
		int s = accept(ls, NULL, NULL);
		FILE *f;

		if (s < 0)
			_exit(1);
		gcp_srv_read(s, req, sizeof(req));
		if ((f = fopen(log, "a")) != NULL) {
			fprintf(f, "%s\n=====\n", req);
			fclose(f);
		}
		if (write(s, replies[i], strlen(replies[i])) < 0)
			_exit(1);
		close(s);
		if (replies[i + 1] != NULL)
			i++;
	}
}

/* Starts the server with replies (NULL-terminated, taken) and a loop. */
static void
gcp_srv_start(struct gcp_srv *v, char **replies)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM, 0), fd;

	memset(v, 0, sizeof(*v));
	snprintf(v->log, sizeof(v->log), "/tmp/t_gcp.XXXXXX");
	fd = mkstemp(v->log);
	close(fd);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(ls, 16) != 0)
		abort();
	getsockname(ls, (struct sockaddr *)&sin, &slen);
	v->port = ntohs(sin.sin_port);
	if ((v->pid = fork()) == 0)
		gcp_srv_child(ls, replies, v->log);
	close(ls);
	for (size_t i = 0; replies[i] != NULL; i++)
		free(replies[i]);
	v->base = event_base_new();
	v->http = httpcli_new(v->base);
}

static void
gcp_srv_stop(struct gcp_srv *v)
{
	if (v->pid > 0) {
		kill(v->pid, SIGTERM);
		waitpid(v->pid, NULL, 0);
	}
	v->pid = 0;
	if (v->http != NULL)
		httpcli_free(v->http);
	if (v->base != NULL)
		event_base_free(v->base);
	unlink(v->log);
	v->http = NULL;
	v->base = NULL;
}

/* The requests the server saw, separated by "\n=====\n" (caller frees). */
static char *
gcp_srv_requests(const struct gcp_srv *v)
{
	FILE *f = fopen(v->log, "r");
	char *buf = xcalloc(1, 262144);

	if (f != NULL) {
		size_t n = fread(buf, 1, 262143, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* How many times needle occurs in hay. */
static int
gcp_srv_count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

#endif
