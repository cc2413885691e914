/* sockerless-agent: main, arguments and the choice of mode. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "proc.h"

static const char agent_usage_text[] =
    "usage: sockerless-agent --lambda -- PROG [ARG...]\n"
    "       sockerless-agent --version\n";

void *
xmalloc(size_t n)
{
	return xrealloc(NULL, n);
}

void *
xrealloc(void *p, size_t n)
{
	static const char msg[] = "sockerless-agent: out of memory\n";
	void *q;
	ssize_t r;

	if ((q = realloc(p, n == 0 ? 1 : n)) == NULL) {
		r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)r;
		abort();
	}
	return q;
}

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

int
main(int argc, char *argv[])
{
	const char *api;
	int i, lambda = 0;

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
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
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
	if (!lambda)
		agent_usage("a mode is required (--lambda)");
	if (i >= argc)
		agent_usage("no command given");

	/* Without the Runtime API the derived image is being run by plain
	 * docker (or a test): behave as if the agent were not there. */
	api = getenv("AWS_LAMBDA_RUNTIME_API");
	if (api == NULL || *api == '\0')
		proc_exec(argv + i);
	lambda_main(api, argv + i);
}
