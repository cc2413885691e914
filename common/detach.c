/* Detach keys: parsing docker's spec and finding the sequence in a
 * client's input, wherever the reads of that input fall. */
#include <string.h>

#include "sockerless/detach.h"

/* One key of the spec: a character, ctrl-<c> or DEL; -1 otherwise. */
static int
detach_key(const char *k, size_t len)
{
	static const char ctrl[] = "@abcdefghijklmnopqrstuvwxyz[\\]^_";
	const char *at;

	if (len == 1)
		return (unsigned char)k[0];
	if (len == 3 && strncmp(k, "DEL", 3) == 0)
		return 127;
	if (len == 6 && strncmp(k, "ctrl-", 5) == 0 && k[5] != '\0' &&
	    (at = strchr(ctrl, k[5])) != NULL)
		return (int)(at - ctrl);
	return -1;
}

int
detach_parse(const char *spec, struct detach *d)
{
	const char *k, *comma;
	size_t len;
	int key;

	d->len = 0;
	if (spec == NULL || spec[0] == '\0')
		spec = "ctrl-p,ctrl-q";
	for (k = spec;; k = comma + 1) {
		comma = strchr(k, ',');
		len = comma != NULL ? (size_t)(comma - k) : strlen(k);
		if ((key = detach_key(k, len)) == -1 || d->len == DETACH_MAX)
			return -1;
		d->keys[d->len++] = (unsigned char)key;
		if (comma == NULL)
			return 0;
	}
}

size_t
detach_scan(const struct detach *d, const unsigned char *p, size_t n,
    int at_eof, int *hit)
{
	size_t i, m;

	*hit = 0;
	for (i = 0; i < n; i++) {
		for (m = 0; m < d->len && i + m < n && p[i + m] == d->keys[m];
		     m++)
			;
		if (m == d->len) {
			*hit = 1;
			return i;
		}
		/* The input ends inside the sequence: hold that part. */
		if (i + m == n && m > 0 && !at_eof)
			return i;
	}
	return n;
}
