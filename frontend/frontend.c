/* sockerless-frontend main: configuration, listeners, signals. */
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "frontend.h"
#include "sockerless/buf.h"
#include "sockerless/config.h"
#include "sockerless/evloop.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* Pieces of a relayed answer come from the heap (below this, mmap above),
 * and this much freed heap stays mapped for the next answer. */
#define FRONTEND_MMAP_MIN   (4 * 1024 * 1024)
#define FRONTEND_KEEP_FREED (16 * 1024 * 1024)

struct frontend *frontend;

static const struct config_key frontend_keys[] = {
	{ "hosts", CONFIG_STRV, offsetof(struct frontend_conf, hosts), NULL, 0,
	    0, 0,
	    "Addresses to serve the Docker API on, as dockerd's -H "
	    "(--hosts or -H, repeatable, or a list): unix:///path, "
	    "tcp://ip:port (TLS with tlscert/tlskey; plain or without "
	    "tlsverify on loopback only), fd:// or fd://NAME (sockets "
	    "systemd passed: sockerless.socket). Default "
	    "unix:///run/sockerless/docker.sock" },
	{ "listen", CONFIG_STRING, offsetof(struct frontend_conf, listen), NULL,
	    0, 0, 0,
	    "Deprecated: one entry added to hosts (a unix socket path, or "
	    "any hosts address)" },
	{ "listen_tcp", CONFIG_STRING,
	    offsetof(struct frontend_conf, listen_tcp), NULL, 0, 0, 0,
	    "Deprecated: host:port added to hosts as tcp://host:port" },
	{ "group", CONFIG_STRING, offsetof(struct frontend_conf, group),
	    "sockerless", 0, 0, 0,
	    "Group of the unix sockets (mode 0660), like dockerd's docker "
	    "group; if the default group sockerless does not exist, only "
	    "the owner may connect; \"\" leaves the group alone" },
	{ "tlsverify", CONFIG_BOOL, offsetof(struct frontend_conf, tlsverify),
	    "false", 0, 0, 0,
	    "Require client certificates signed by tlscacert on TLS "
	    "listeners (needed on non-loopback addresses)" },
	{ "tlscacert", CONFIG_STRING, offsetof(struct frontend_conf, tlscacert),
	    NULL, 0, 0, 0,
	    "PEM file of the CA that signs client certificates" },
	{ "tlscert", CONFIG_STRING, offsetof(struct frontend_conf, tlscert),
	    NULL, 0, 0, 0,
	    "PEM file of the server's certificate (chain): tcp:// listeners "
	    "serve TLS 1.2 or later" },
	{ "tlskey", CONFIG_STRING, offsetof(struct frontend_conf, tlskey), NULL,
	    0, 0, 0, "PEM file of the server certificate's key" },
	{ "backend", CONFIG_STRING, offsetof(struct frontend_conf, backend),
	    "/run/sockerless/backend.sock", 0, 0, 0,
	    "The backend's internal API: its unix socket (a path or "
	    "unix:///path), or tcp://IP:PORT of its internal_tcp (TLS and a "
	    "bearer token: backend_tlscacert, backend_token_file)" },
	{ "backend_tlscacert", CONFIG_STRING,
	    offsetof(struct frontend_conf, backend_tlscacert), NULL, 0, 0, 0,
	    "PEM file of the CA that signed the backend's internal_tlscert "
	    "(for backend tcp://)" },
	{ "backend_token_file", CONFIG_STRING,
	    offsetof(struct frontend_conf, backend_token_file), NULL, 0, 0, 0,
	    "File holding the bearer token of the backend's "
	    "internal_token_file (for backend tcp://)" },
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
	{ "backend_pool", CONFIG_INT,
	    offsetof(struct frontend_conf, backend_pool), "64", 0, 4096, 0,
	    "Idle connections to the backend kept open for the next "
	    "requests (each closed after 60 s idle; a hijacked attach or "
	    "exec gets its own); 0 opens a connection per request" },
	{ "busy_poll", CONFIG_INT, offsetof(struct frontend_conf, busy_poll),
	    "0", 0, EVLOOP_BUSY_MAX, 0,
	    "Microseconds the frontend keeps polling without sleeping after "
	    "a request or a backend answer comes in (0: off). Back-to-back "
	    "requests get faster, as the next one finds the frontend awake; "
	    "requests spaced apart can get slower on a virtual machine, and "
	    "each costs more CPU (docs/scale.md, \"Busy polling\")" },
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

	frontend->srv = httpsrv_new(frontend->base, routes_handle, NULL);
	httpsrv_set_limits(frontend->srv, &lim);
	if (frontend_hosts(frontend->srv, &e) == -1)
		fatalx("%s", e.msg);
}

/* dockerd's flags the config reader does not know: -H and a repeated
 * --hosts are gathered into one --hosts=a,b; -n/--check is taken out and
 * done after loading, so that it checks the listen list and the TLS files
 * too (*check). Returns the new argv (argc in *argcp), owned by sv. */
static char **
frontend_args(int *argcp, char **argv, int *check, struct strv *sv)
{
	struct strv hosts;
	struct buf b;
	int argc = *argcp;

	strv_init(sv);
	strv_init(&hosts);
	*check = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = NULL;

		if (i > 0 &&
		    (strcmp(a, "-n") == 0 || strcmp(a, "--check") == 0)) {
			*check = 1;
			continue;
		}
		if (i > 0 &&
		    (strcmp(a, "-H") == 0 || strcmp(a, "--hosts") == 0 ||
			strcmp(a, "--host") == 0) &&
		    i + 1 < argc)
			v = argv[++i];
		else if (i > 0 &&
		    (str_prefix(a, "--hosts=") || str_prefix(a, "--host=")))
			v = strchr(a, '=') + 1;
		else if (i > 0 && str_prefix(a, "-H") && a[2] != '\0')
			v = a + 2 + (a[2] == '=');
		if (v != NULL) {
			strv_add(&hosts, v);
			continue;
		}
		strv_add(sv, a);
	}
	if (hosts.n > 0) {
		buf_init(&b, 0);
		buf_addf(&b, "--hosts=");
		for (size_t i = 0; i < hosts.n; i++)
			buf_addf(&b, "%s%s", i > 0 ? "," : "", hosts.v[i]);
		strv_add(sv, b.data);
		buf_free(&b);
	}
	strv_free(&hosts);
	*argcp = (int)sv->n;
	return sv->v;
}

int
main(int argc, char **argv)
{
	struct config_set set;
	struct err e = { 0, "" };
	struct strv args;
	int rc, check;

	log_init("sockerless-frontend", LOG_LVL_INFO);
	json_init();
#ifdef __GLIBC__
	/* A relayed answer of megabytes (ps -a of 10k containers: 7 MB)
	 * passes through the frontend in pieces of up to 1 MiB. By default
	 * glibc gives the heap's top back once 128 KiB of it is free, so
	 * every large answer faulted its pieces' pages in afresh, which cost
	 * more than the copy (docs/scale.md, "Large answers"). Up to
	 * FRONTEND_KEEP_FREED of freed memory now stays for the next. */
	mallopt(M_MMAP_THRESHOLD, FRONTEND_MMAP_MIN);
	mallopt(M_TRIM_THRESHOLD, FRONTEND_KEEP_FREED);
#endif
	frontend = xcalloc(1, sizeof(*frontend));
	set = (struct config_set){ frontend_keys, NKEYS, &frontend->conf };
	argv = frontend_args(&argc, argv, &check, &args);
	rc = config_load(&set, 1, "SOCKERLESS_FRONTEND", argc, argv,
	    "sockerless-frontend", &e);
	strv_free(&args);
	if (rc == CONFIG_EXIT_OK) {
		free(frontend);
		return 0;
	}
	if (rc == 0 && check && frontend_hosts(NULL, &e) == 0 &&
	    proxy_backend_init(&e) == 0)
		printf("configuration OK\n");
	if (rc == -1 || check) {
		if (rc == -1 || e.status != 0)
			fprintf(stderr, "sockerless-frontend: %s\n", e.msg);
		proxy_backend_free();
		config_free(frontend_keys, NKEYS, &frontend->conf);
		free(frontend);
		return rc == -1 || e.status != 0 ? 2 : 0;
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
	log_hold_start(frontend->base);
	if (proxy_backend_init(&e) == -1)
		fatalx("%s", e.msg);
	frontend_listen();
	proxy_caps_refresh();
	evloop_run(frontend->base, (long)frontend->conf.busy_poll);
	log_hold_stop();
	proxy_gets_cancel();
	httpsrv_free(frontend->srv);
	proxy_backend_free();
	event_free(frontend->sig_term);
	event_free(frontend->sig_int);
	event_base_free(frontend->base);
	config_free(frontend_keys, NKEYS, &frontend->conf);
	free(frontend);
	log_info("stopped");
	return 0;
}
