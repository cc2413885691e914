/* Detach keys: the key sequence that ends an attach or exec stream
 * while the process goes on (Docker's --detach-keys, ctrl-p,ctrl-q). */
#ifndef SOCKERLESS_DETACH_H
#define SOCKERLESS_DETACH_H

#include <stddef.h>

#define DETACH_MAX 64 /* keys in one sequence */

struct detach {
	unsigned char keys[DETACH_MAX];
	size_t len;
};

/* Parses a spec as docker does: a comma list of single characters,
 * "ctrl-@" .. "ctrl-_" (ctrl-a .. ctrl-z, lower case) and "DEL"; NULL or
 * "" is ctrl-p,ctrl-q. -1 when the spec is not one. */
int detach_parse(const char *spec, struct detach *d);

/* Looks for the sequence in p[0..n): returns how many bytes may go to
 * the process now. *hit says the whole sequence follows them (those
 * bytes are the sequence, never the process's); without a hit, what is
 * not returned is the start of the sequence and waits for more input
 * (unless at_eof: then everything goes). */
size_t detach_scan(const struct detach *d, const unsigned char *p, size_t n,
    int at_eof, int *hit);

#endif
