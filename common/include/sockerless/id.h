/* Container ids and names the way Docker makes them. */
#ifndef SOCKERLESS_ID_H
#define SOCKERLESS_ID_H

#include "sockerless/err.h"

/* 64 lowercase hex characters from the OS CSPRNG (getrandom), never all
 * digits (Docker avoids ids that parse as numbers), NUL-terminated. */
void id_new(char out[65]);
/* "adjective_surname" like Docker's namesgenerator, with a random digit
 * appended when retry > 0; caller frees. */
char *id_random_name(int retry);
/* How many random names id_pick_name tries before the short id. */
#define ID_NAME_TRIES 6
/* A free name for the container id: random names (see id_random_name),
 * then the first 12 characters of the id, then the whole id; taken says
 * whether a name is in use. Returns a name the caller frees, or NULL when
 * even the whole id is taken. Calls taken at most ID_NAME_TRIES + 2
 * times. */
char *id_pick_name(
    const char *id, int (*taken)(const char *name, void *arg), void *arg);
/* Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ with an optional leading '/'.
 * Returns 0, or -1 with a 400 err "Invalid container name (x), only
 * [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed". */
int id_valid_name(const char *name, struct err *e);

#endif
