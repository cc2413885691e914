/* A fake backend for the framework's unit tests (t_fw_*.c): a struct
 * backend_ops whose container operations are recorded and completed when
 * the test says so, a backend made with backend_new on a private state
 * directory, and a client of its internal API (docs/internal-api.md) on
 * the same event loop. Everything runs in one thread: the test drives the
 * loop until a condition holds, with a bound. */
#ifndef FAKE_BACKEND_H
#define FAKE_BACKEND_H

#include <stdint.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "sockerless/backend.h"

#define FAKE_NOPS 11

/* One operation the framework asked of the backend. */
struct fake_call {
	TAILQ_ENTRY(fake_call) entry;
	/* "create", "start", "stop", "kill", "remove", "net_create",
	 * "net_remove", "net_connect", "net_disconnect", "vol_create",
	 * "vol_remove" */
	const char *op;
	char id[65];	     /* the container ("" for net_create, net_remove) */
	char net[65];	     /* the network of net_* */
	char vol[256];	     /* the volume of vol_* */
	struct container *c; /* referenced until completed */
	int arg;	     /* stop: timeout_s; kill: signo */
	backend_done_fn done;
	void *done_arg;
};
TAILQ_HEAD(fake_calls, fake_call);

/* An answer of the internal API. */
struct fw_resp {
	int done;
	int status; /* 0: no HTTP answer */
	char *body; /* NUL-terminated */
	size_t len;
	cJSON *json; /* the body parsed, or NULL */
};

struct fw {
	struct backend *b;
	char dir[64];	/* the test's temporary directory */
	char sock[128]; /* the internal API's socket */
	struct fake_calls pending;
	int count[FAKE_NOPS]; /* calls made, per op, by fake_op_index */
	int autocomplete;     /* complete every op on the next loop turn */
	int fail_status;      /* with autocomplete: fail ops with this status */
	const char *fail_op;
	int reconciled;	   /* ops->reconcile ran */
	cJSON *logs;	   /* lines logs_fetch returns (strings) */
	int no_logs;	   /* logs_fetch fails (500) */
	int logs_503;	   /* so many next logs_fetch calls fail with 503 */
	int exit_on_fetch; /* a fetch ends the running workload (code 0) */
	struct httpcli *cli;
	/* fw_hijack calls this once the 101 arrived (then clears it). */
	void (*on_upgraded)(struct fw *fw, void *arg);
	void *on_upgraded_arg;
	int no_half_close; /* fw_hijack keeps its write side open */
	/* Reverse mode: the agents' callback port (kept by fw_reopen), and
	 * fw_free(fw, 1) leaves the workloads running (a backend restart). */
	int callback_port;
	int keep_agents;
};

/* The one fake of the process (the ops are global, like a backend's). */
extern struct fw *fw_cur;
/* Capability flags the next fw_new's backend reports (CAP_LOGS and
 * CAP_LOGS_FOLLOW are on by default). */
extern int fake_caps[CAP__COUNT];
/* The backend's own 501 sentences (caps.why) for the next fw_new. */
extern const char *fake_caps_why[CAP__COUNT];
/* Set before fw_new: the backend runs workloads as children of the test
 * under the real sockerless-agent (forward mode on a loopback port): start
 * spawns it, stop and kill signal it, its exit is reported, and
 * agent_address gives its port. */
extern int fake_agent_mode;
/* Set with fake_agent_mode before fw_new: reverse mode (ops->agent_reverse;
 * the agents call back on agent_callback_listen, 127.0.0.1 and a port of
 * SK_TEST_PORT_BASE + 90..99). */
extern int fake_agent_reverse;
/* Reverse mode: agent_callback_timeout for the next fw_new (0: default). */
extern int fake_callback_timeout;
/* Reverse mode: the next workloads' agents get a wrong token. */
extern int fake_agent_bad_token;
/* The run environment (backend_agent_run_env, as JSON) of the last
 * workload the agent mode started. */
extern char *fake_last_run_env;
/* Set before fw_new: the backend has net_create, net_remove, net_connect
 * and net_disconnect (recorded as calls like the others). */
extern int fake_net_ops;
/* Set before fw_new: the net operations and agent_address (the port in the
 * container's private "FakePort"), for an agent the test serves itself. */
extern int fake_recorder_mode;
/* Set before a stop: the fake's ops->stop is kit_stop_through_agent with
 * its kill op as the hard stop (as Cloud Run's). */
extern int fake_stop_kit;

/* backend_main with the fake's operations (no container operations may
 * reach it: they need a struct fw). */
int fake_main(int argc, char **argv);
/* Makes a backend on a new temporary directory and starts it. */
struct fw *fw_new(void);
/* A second instance on the same state (the first must be freed). */
struct fw *fw_reopen(struct fw *old);
/* Frees the backend; with keep, leaves the directory for fw_reopen. */
void fw_free(struct fw *fw, int keep);

/* Runs the loop until *flag is non-zero or until the bound (10 s) ends;
 * returns the flag. */
int fw_run_until(struct fw *fw, const int *flag);
/* Runs the loop until fn(arg) holds or the bound ends; returns fn(arg). */
int fw_run_until_fn(
    struct fw *fw, int (*fn)(struct fw *fw, void *arg), void *arg);
/* Runs what is ready now (parked replays, completions) without blocking. */
void fw_settle(struct fw *fw);

/* Sends a request to /internal/v1<path>; body may be NULL. The response is
 * filled in when it arrives (resp->done). */
struct fw_resp *fw_send(
    struct fw *fw, const char *method, const char *path, const char *body);
/* The same with a body of len bytes (binary). */
struct fw_resp *fw_send_body(struct fw *fw, const char *method,
    const char *path, const char *body, size_t len);
/* Sends and waits for the answer. */
/* fw_req without a body, asserting (cmocka) the status: the response,
 * or nothing with _free. */
struct fw_resp *fw_expect(
    struct fw *fw, const char *method, const char *path, int status);
void fw_expect_free(
    struct fw *fw, const char *method, const char *path, int status);
struct fw_resp *fw_req(
    struct fw *fw, const char *method, const char *path, const char *body);
/* Waits for an answer sent earlier. */
struct fw_resp *fw_await(struct fw *fw, struct fw_resp *r);
void fw_resp_free(struct fw_resp *r);
/* The error message of a Docker error reply, or "". */
const char *fw_msg(const struct fw_resp *r);

/* Stores an image as a pull would, under ref ("alpine:latest"); cmd is
 * the image's Cmd (one word). Returns its id in a static buffer. */
const char *fw_add_image(struct fw *fw, const char *ref, const char *cmd);

/* The oldest pending call of op, after running the loop until there is
 * one; NULL at the bound. */
struct fake_call *fw_wait_call(struct fw *fw, const char *op);
/* Completes it: status 0 is success, else an error with msg. Frees it. */
void fw_complete(
    struct fw *fw, struct fake_call *call, int status, const char *msg);
/* Waits for the next call of op and completes it. */
void fw_complete_next(
    struct fw *fw, const char *op, int status, const char *msg);
int fw_pending(struct fw *fw, const char *op);
int fw_count(struct fw *fw, const char *op);

/* Test-side helpers built on the API. */
/* Creates a container (201 expected) from image, named name (or NULL);
 * returns its id in a new string. extra is more JSON members of the
 * body ("\"Labels\":{...}") or NULL. */
char *fw_create(
    struct fw *fw, const char *name, const char *image, const char *extra);
/* Starts it with autocomplete on for the call (204 expected). */
void fw_start(struct fw *fw, const char *id);
/* The workload of a running container ended. */
void fw_exit(struct fw *fw, const char *id, int code);
/* GET /containers/{id}/json parsed; NULL on 404. */
cJSON *fw_inspect(struct fw *fw, const char *id);
/* State.Status of the container, in a static buffer ("" when gone). */
const char *fw_status(struct fw *fw, const char *id);
/* A raw request on the internal API socket for the hijacked routes
 * (attach, exec start): sends it with Upgrade: tcp, then input (may be
 * NULL) after the 101, then half-closes (unless no_half_close), and reads
 * until the backend closes (20 s at most). Returns everything after the
 * response head (a new buffer, *len its size); *status the response's status.
 */
char *fw_hijack(struct fw *fw, const char *method, const char *path,
    const char *body, const char *input, int *status, size_t *len);
/* Runs the loop for about ms milliseconds (to let a child process do its
 * part; never an assertion by itself). */
void fw_run_for(struct fw *fw, int ms);

/* Shared by fake_backend.c and fake_agent.c. */
struct container *fw_find(struct fw *fw, const char *id_prefix);
void fw_expired(evutil_socket_t fd, short ev, void *arg); /* sets *arg */
void fake_agent_begin(struct fw *fw);
void fake_agent_end(int keep);
/* The agent mode's cloud for start, stop, kill: 0 when it completed the
 * call. */
int fake_agent_op(struct fw *fw, struct fake_call *call);
int fake_agent_address(struct backend *b, struct container *c, char *host,
    size_t hostsz, int *port);

/* A free loopback port for the agents' callback (SK_TEST_PORT_BASE +
 * 90..99). */
int fake_callback_port(void);
/* backend_new in reverse mode on a new state directory with args (the
 * flags after argv[0], NULL-terminated), freed at once if it starts:
 * returns its exit code (-1: it started), what it wrote on stderr in
 * err. */
int fw_try_reverse(const char *const *args, char *err, size_t errsz);

/* Percent-encodes s for a query string (a new string). */
char *fw_urlenc(const char *s);

#endif
