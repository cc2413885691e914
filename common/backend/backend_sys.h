/* Private to the backend framework: system and events (backend_sys.c). */
#ifndef SOCKERLESS_BACKEND_SYS_H
#define SOCKERLESS_BACKEND_SYS_H

#include "backend_int.h"

/* backend_sys.c: system and events */
void backend_sys_version(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_sys_info(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* GET /system/df without its volumes (backend_vol_df adds them). */
cJSON *backend_sys_df_doc(struct backend *b);
void backend_sys_events(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
void backend_sys_capabilities(
    struct backend *b, struct httpsrv_req *r, const struct router_match *m);
/* Records and broadcasts one event. attrs may be NULL; it is taken. */
void backend_sys_event(struct backend *b, const char *type, const char *action,
    const char *id, cJSON *attrs);
void backend_sys_container_event(struct backend *b, struct container *c,
    const char *action, cJSON *extra_attrs);
/* dockerd's exec, kill and image events (see backend_sys.c). */
void backend_sys_exec_event(struct backend *b, struct container *c,
    const char *action, const char *exec_id, const cJSON *cmd);
void backend_sys_exec_die_event(
    struct backend *b, struct container *c, const char *exec_id, int code);
void backend_sys_kill_event(struct backend *b, struct container *c, int signo);
void backend_sys_image_event(
    struct backend *b, const char *action, const char *id, const char *name);
void backend_sys_pull_event(struct backend *b, const char *ref);
void backend_sys_tag_event(struct backend *b, const char *id, const char *ref);

#endif
