/* Container documents: Docker's inspect and list shapes built from the one
 * JSON document the framework keeps per container. */
#ifndef SOCKERLESS_CONTAINER_H
#define SOCKERLESS_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

/* Docker's human duration ("Less than a second", "5 minutes", ...). */
void container_human_duration(char *out, size_t size, int64_t ns);

/* A Docker port key ("80", "80/tcp", "53/udp", "9/sctp") into its number
 * (1-65535) and protocol (borrowed from key, "tcp" when absent). -1 when
 * malformed. */
int container_port_parse(const char *key, int *port, const char **proto);

#endif
