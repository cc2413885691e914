/* The agent's allocation wrappers: out of memory ends the agent, so no
 * caller carries a branch for it. Apart from agent.c (main), so the fuzz
 * harnesses link the agent's modules without its main. */
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"

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
