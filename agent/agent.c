/* sockerless-agent: main, arguments and the choice of mode. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "proc.h"

static const char agent_usage_text[] =
    "usage: sockerless-agent -- PROG [ARG...]\n"
    "       sockerless-agent --lambda -- PROG [ARG...]\n"
    "       SOCKERLESS_HTTP_RUNTIME=1 sockerless-agent -- PROG [ARG...]\n"
    "       sockerless-agent --install DEST\n"
    "       sockerless-agent --version\n";

static void agent_usage(const char *why) __attribute__((noreturn));
static void
agent_usage(const char *why)
{
	fprintf(stderr, "sockerless-agent: %s\n%s", why, agent_usage_text);
	exit(AGENT_EXIT_USAGE);
}

/* A closed 0, 1 or 2 would be reused by the next open or pipe, and the
 * child's dup2 onto it would then be a no-op that keeps O_CLOEXEC. */
static void
agent_fix_stdio(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(AGENT_EXIT_USAGE);
}

/* mkdir -p of path's parent directory. */
static int
agent_mkdirs(const char *path)
{
	char *dir = strdup(path), *d, *p;
	int rc = 0;

	if (dir == NULL)
		return -1;
	d = dirname(dir);
	for (p = d + 1; rc == 0 && *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(d, 0755) == -1 && errno != EEXIST)
				rc = -1;
			*p = '/';
		}
	if (rc == 0 && mkdir(d, 0755) == -1 && errno != EEXIST)
		rc = -1;
	free(dir);
	return rc;
}

/* Copies the agent's own executable to dest (via dest.tmp and rename):
 * how the ECS init container hands it to the workload's volume. */
static int
agent_install(const char *dest)
{
	char tmp[4096], buf[65536];
	int in = -1, out = -1, rc = 1;
	ssize_t n, w;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp)) {
		fprintf(stderr, "sockerless-agent: install: path too long\n");
		return 1;
	}
	if (agent_mkdirs(dest) == -1 ||
	    (in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755)) ==
		-1)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		for (w = 0; w < n;) {
			ssize_t r = write(out, buf + w, (size_t)(n - w));
			if (r == -1) {
				if (errno == EINTR)
					continue;
				goto fail;
			}
			w += r;
		}
	}
	if (fchmod(out, 0755) == -1 || fsync(out) == -1 || close(out) == -1) {
		out = -1;
		goto fail;
	}
	out = -1;
	if (rename(tmp, dest) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "sockerless-agent: install %s: %s\n", dest,
	    strerror(errno));
	unlink(tmp);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Where the HTTP runtime listens: SOCKERLESS_HTTP_LISTEN, else every
 * address on Cloud Run's $PORT (8080 when unset, as Cloud Run's default). */
static void
agent_http_runtime(char *const argv[])
{
	const char *listen_addr = getenv("SOCKERLESS_HTTP_LISTEN");
	const char *port = getenv("PORT");
	char addr[64];
	long n;

	if (listen_addr == NULL || *listen_addr == '\0') {
		if (port == NULL || *port == '\0')
			port = "8080";
		n = strspn(port, "0123456789") == strlen(port) &&
			strlen(port) <= 5 ?
		    strtol(port, NULL, 10) :
		    0;
		if (n < 1 || n > 65535)
			agent_usage("PORT must be a port number (1-65535)");
		snprintf(addr, sizeof(addr), "0.0.0.0:%ld", n);
		listen_addr = addr;
	}
	httprt_main(listen_addr, argv);
}

int
main(int argc, char *argv[])
{
	const char *api;
	int i, lambda = 0, dashes = 0;

	agent_fix_stdio();
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("sockerless-agent %s\n", AGENT_VERSION);
		return 0;
	}
	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(agent_usage_text, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--install") == 0) {
		if (argc != 3 || argv[2][0] == '\0')
			agent_usage("--install needs one DEST");
		return agent_install(argv[2]);
	}
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			dashes = 1;
			i++;
			break;
		}
		if (strcmp(argv[i], "--lambda") != 0) {
			fprintf(stderr, "sockerless-agent: unknown option %s\n",
			    argv[i]);
			agent_usage("bad usage");
		}
		lambda = 1;
	}
	/* The HTTP runtime may have no command of its own: each request
	 * then brings its argv (the gcf backend's derived images). */
	if (i >= argc &&
	    !(dashes && !lambda &&
		(api = getenv("SOCKERLESS_HTTP_RUNTIME")) != NULL &&
		strcmp(api, "1") == 0))
		agent_usage("no command given");
	if (!lambda && !dashes)
		agent_usage("a mode is required (--lambda, or -- PROG)");
	if (!lambda && (api = getenv("SOCKERLESS_HTTP_RUNTIME")) != NULL &&
	    strcmp(api, "1") == 0)
		agent_http_runtime(argv + i);
	if (!lambda)
		wrap_main(argv + i);

	/* Without the Runtime API the derived image is being run by plain
	 * docker (or a test): behave as if the agent were not there. */
	api = getenv("AWS_LAMBDA_RUNTIME_API");
	if (api == NULL || *api == '\0')
		proc_exec(argv + i);
	lambda_main(api, argv + i);
}
