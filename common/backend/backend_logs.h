/* Private to the backend framework: logs and the read-only attach
 * (backend_logs.c). */
#ifndef SOCKERLESS_BACKEND_LOGS_H
#define SOCKERLESS_BACKEND_LOGS_H

#include "backend_int.h"

/* backend_logs.c: logs and the read-only attach */
void backend_logs_get(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_logs_attach(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_logs_container_exited(struct backend *b, struct container *c);

#endif
