/* sockerless-frontend main: configuration, listeners, signals. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "frontend.h"
#include "sockerless/config.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

struct frontend *frontend;

static const struct config_key frontend_keys[] = {
	{ "listen", CONFIG_STRING, offsetof(struct frontend_conf, listen),
	    "/run/sockerless/docker.sock", 0, 0, 0,
	    "Unix socket Docker clients connect to (DOCKER_HOST=unix://...)" },
	{ "listen_tcp", CONFIG_STRING,
	    offsetof(struct frontend_conf, listen_tcp), NULL, 0, 0, 0,
	    "Optional TCP listener host:port; loopback addresses only, since "
	    "the Docker API grants full control and TLS is not served" },
	{ "backend", CONFIG_STRING, offsetof(struct frontend_conf, backend),
	    "/run/sockerless/backend.sock", 0, 0, 0,
	    "The backend's internal API socket" },
	{ "log_level", CONFIG_STRING, offsetof(struct frontend_conf, log_level),
	    "info", 0, 0, 0, "error, warn, info or debug" },
	{ "max_body", CONFIG_INT, offsetof(struct frontend_conf, max_body),
	    "67108864", 1024, 1LL << 34, 0,
	    "Largest request body accepted, in bytes (413 above)" },
	{ "max_conns", CONFIG_INT, offsetof(struct frontend_conf, max_conns),
	    "4096", 16, 1 << 20, 0,
	    "Client connections kept open; above it the oldest idle or "
	    "stalled one is closed to make room" },
	{ "header_timeout", CONFIG_DURATION,
	    offsetof(struct frontend_conf, header_timeout), "30s", 1000,
	    3600000, 0, "Time a client has to send a complete request head" },
	{ "idle_timeout", CONFIG_DURATION,
	    offsetof(struct frontend_conf, idle_timeout), "5m", 1000, 86400000,
	    0, "Time an idle keep-alive connection is kept" },
};
#define NKEYS (sizeof(frontend_keys) / sizeof(frontend_keys[0]))

static void
frontend_on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("received signal %d, shutting down", (int)sig);
	event_base_loopexit(frontend->base, NULL);
}

/* Like Go servers (dockerd), takes the hard descriptor limit as the soft
 * one, and keeps max_conns within it: a relayed request holds two
 * descriptors (client and backend), and a few stay for the rest. */
static int
frontend_conn_budget(int want)
{
	struct rlimit rl;
	long budget;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return want;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
		return want;
	budget = ((long)rl.rlim_cur - 64) / 2;
	if (budget < 16)
		budget = 16;
	if (want <= budget)
		return want;
	log_warnx("max_conns %d lowered to %ld: the descriptor limit is %ld",
	    want, budget, (long)rl.rlim_cur);
	return (int)budget;
}

static void
frontend_listen(void)
{
	struct httpsrv_limits lim = {
		.max_header_bytes = 64 * 1024,
		.max_body_bytes = (size_t)frontend->conf.max_body,
		.idle_timeout_s = (int)(frontend->conf.idle_timeout / 1000),
		.max_conns =
		    frontend_conn_budget((int)frontend->conf.max_conns),
		.header_timeout_s = (int)(frontend->conf.header_timeout / 1000),
	};
	struct err e;
	char *dir = xstrdup(frontend->conf.listen), *slash, *colon;
	const char *errstr;
	long long port;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			fatal("creating %s", dir);
	}
	free(dir);
	frontend->srv = httpsrv_new(frontend->base, routes_handle, NULL);
	httpsrv_set_limits(frontend->srv, &lim);
	if (httpsrv_listen_unix(
		frontend->srv, frontend->conf.listen, 0660, &e) == -1)
		fatalx("listening on %s: %s", frontend->conf.listen, e.msg);
	log_info("serving the Docker API on unix://%s", frontend->conf.listen);
	if (frontend->conf.listen_tcp == NULL ||
	    frontend->conf.listen_tcp[0] == '\0')
		return;
	dir = xstrdup(frontend->conf.listen_tcp);
	if ((colon = strrchr(dir, ':')) == NULL)
		fatalx("listen_tcp: expected host:port, got %s", dir);
	*colon = '\0';
	if (strncmp(dir, "127.", 4) != 0 && strcmp(dir, "localhost") != 0)
		fatalx("listen_tcp: %s is not a loopback address; the Docker "
		       "API must not be served unauthenticated on a network",
		    dir);
	if (str_tonum(colon + 1, 1, 65535, &port, &errstr) == -1)
		fatalx("listen_tcp: port %s is %s: expected 1-65535", colon + 1,
		    errstr);
	if (httpsrv_listen_tcp(frontend->srv,
		strcmp(dir, "localhost") == 0 ? "127.0.0.1" : dir, (int)port,
		&e) == -1)
		fatalx("listening on %s: %s", frontend->conf.listen_tcp, e.msg);
	log_info(
	    "serving the Docker API on tcp://%s", frontend->conf.listen_tcp);
	free(dir);
}

int
main(int argc, char **argv)
{
	struct config_set set;
	struct err e;
	int rc;

	log_init("sockerless-frontend", LOG_LVL_INFO);
	json_init();
	frontend = xcalloc(1, sizeof(*frontend));
	set = (struct config_set){ frontend_keys, NKEYS, &frontend->conf };
	rc = config_load(&set, 1, "SOCKERLESS_FRONTEND", argc, argv,
	    "sockerless-frontend", &e);
	if (rc == CONFIG_EXIT_OK)
		return 0;
	if (rc == -1) {
		fprintf(stderr, "sockerless-frontend: %s\n", e.msg);
		return 2;
	}
	if (log_level_parse(frontend->conf.log_level) >= 0)
		log_set_level(
		    (enum log_level)log_level_parse(frontend->conf.log_level));
	signal(SIGPIPE, SIG_IGN);
	frontend->base = event_base_new();
	frontend->sig_term =
	    evsignal_new(frontend->base, SIGTERM, frontend_on_signal, NULL);
	frontend->sig_int =
	    evsignal_new(frontend->base, SIGINT, frontend_on_signal, NULL);
	evsignal_add(frontend->sig_term, NULL);
	evsignal_add(frontend->sig_int, NULL);
	frontend_listen();
	proxy_caps_refresh();
	event_base_dispatch(frontend->base);
	httpsrv_free(frontend->srv);
	unlink(frontend->conf.listen);
	event_free(frontend->sig_term);
	event_free(frontend->sig_int);
	event_base_free(frontend->base);
	config_free(frontend_keys, NKEYS, &frontend->conf);
	free(frontend);
	log_info("stopped");
	return 0;
}
