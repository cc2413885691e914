/* Error values with a Docker-facing status and message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sockerless/err.h"
#include "sockerless/str.h"

int
err_set(struct err *e, int status, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->status = status;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
err_wrap(struct err *e, const char *fmt, ...)
{
	va_list ap;
	char prefix[512], old[sizeof(e->msg)];

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	/* Truncation is acceptable: the head of the message matters most. */
	size_t n = strlen(prefix);
	if (n > sizeof(e->msg) - 3)
		n = sizeof(e->msg) - 3;
	memcpy(e->msg, prefix, n);
	memcpy(e->msg + n, ": ", 2);
	str_lcpy(e->msg + n + 2, old, sizeof(e->msg) - n - 2);
	if (e->status == 0)
		e->status = 500;
	return -1;
}

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->status = 0;
	e->msg[0] = '\0';
}
