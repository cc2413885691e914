/* An error travelling up to where it is reported once: an HTTP status in
 * Docker's terms and a sentence a user can act on. No heap needed. */
#ifndef SOCKERLESS_ERR_H
#define SOCKERLESS_ERR_H

struct err {
	int status; /* HTTP status for the Docker client (400, 404, ...) */
	char msg[1024];
};

/* Fills e (if not NULL) and returns -1, so callers can `return err_set()`. */
int err_set(struct err *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message already in e with more context: "ctx: old". */
int err_wrap(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);

#endif
