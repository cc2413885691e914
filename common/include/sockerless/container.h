/* Container documents: Docker's inspect and list shapes built from the one
 * JSON document the framework keeps per container. */
#ifndef SOCKERLESS_CONTAINER_H
#define SOCKERLESS_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

/* Docker's human duration ("Less than a second", "5 minutes", ...). */
void container_human_duration(char *out, size_t size, int64_t ns);

#endif
