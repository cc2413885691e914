/* Container ids and names the way Docker makes them. */
#ifndef SOCKERLESS_ID_H
#define SOCKERLESS_ID_H

#include "sockerless/err.h"

/* 64 lowercase hex characters from the OS CSPRNG (getrandom), never all
 * digits (Docker avoids ids that parse as numbers), NUL-terminated. */
void id_new(char out[65]);
/* "adjective_surname" like Docker's namesgenerator; caller frees. */
char *id_random_name(void);
/* Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ with an optional leading '/'.
 * Returns 0, or -1 with a 400 err "Invalid container name (x), only
 * [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed". */
int id_valid_name(const char *name, struct err *e);

#endif
