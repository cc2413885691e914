/* The backend's side of the agent link (common/aglink/) as a workload
 * could drive it: an agent calling back (reverse mode) with the input as
 * its byte stream after a valid upgrade request (first byte even), or as
 * the upgrade request itself (odd). A channel is open, so HELLO, EVENT,
 * DATA, META, EOF, CREDIT and RESULT all reach their handlers. */
#include <sys/socket.h>

#include <stdio.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "fuzz.h"
#include "sockerless/aglink.h"
#include "sockerless/log.h"

#define FUZZ_CID "fuzzcid"
#define FUZZ_TOKEN \
	"0123456789abcdef0123456789abcdef0123456789abcdef01234567890abcdef"

static struct event_base *fuzz_base;
static struct aglink_listener *fuzz_ls;
static struct aglink *fuzz_link;
static struct aglink_chan *fuzz_chan;

static struct aglink *
fuzz_lookup(void *arg, const char *cid)
{
	(void)arg;
	return strcmp(cid, FUZZ_CID) == 0 ? fuzz_link : NULL;
}

static void
fuzz_on_hello(void *arg, const cJSON *hello)
{
	(void)arg;
	(void)hello;
}

static void
fuzz_on_event(void *arg, const cJSON *event)
{
	(void)arg;
	(void)event;
}

static void
fuzz_on_down(void *arg, const struct err *e)
{
	(void)arg;
	(void)e;
}

static void
fuzz_on_data(void *arg, int stream, const unsigned char *buf, size_t len)
{
	(void)arg;
	(void)stream;
	(void)buf;
	if (fuzz_chan != NULL)
		aglink_chan_consumed(fuzz_chan, len);
}

static void
fuzz_on_eof(void *arg, int stream)
{
	(void)arg;
	(void)stream;
}

static void
fuzz_on_meta(void *arg, const cJSON *meta)
{
	(void)arg;
	(void)meta;
}

static void
fuzz_on_result(void *arg, const cJSON *result, const struct err *e)
{
	(void)arg;
	if ((result == NULL) == (e == NULL))
		abort();
	fuzz_chan = NULL;
}

static const struct aglink_cbs fuzz_cbs = { fuzz_on_hello, fuzz_on_event,
	fuzz_on_down, NULL };
static const struct aglink_chan_cbs fuzz_chan_cbs = { fuzz_on_data, fuzz_on_eof,
	fuzz_on_meta, NULL, fuzz_on_result };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERROR);
	fuzz_base = event_base_new();
	/* The listener is never connected to (connections are adopted),
	 * but it binds: a port of this slice's range that is free. */
	for (int port = 41150; fuzz_ls == NULL && port < 41170; port++)
		fuzz_ls = aglink_listener_new(
		    fuzz_base, "127.0.0.1", port, fuzz_lookup, NULL);
	if (fuzz_ls == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char req[] =
	    "GET " AGLINK_PATH " HTTP/1.1\r\nHost: backend\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Authorization: Bearer " FUZZ_TOKEN "\r\n"
	    "X-Sockerless-Container: " FUZZ_CID "\r\n\r\n";
	cJSON *open;
	uint8_t *in;
	size_t n;
	int sv[2];

	if (size == 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		sv) == -1)
		abort();
	fuzz_link = aglink_new_reverse(
	    fuzz_base, FUZZ_CID, FUZZ_TOKEN, 30, &fuzz_cbs, NULL);
	open = cJSON_CreateObject();
	cJSON_AddStringToObject(open, "kind", "exec");
	fuzz_chan = aglink_open(fuzz_link, open, &fuzz_chan_cbs, NULL);
	cJSON_Delete(open);
	aglink_listener_adopt(fuzz_ls, sv[0]);
	/* The request, unless the input is the request. */
	n = (data[0] & 1) ? 0 : sizeof(req) - 1;
	in = malloc(n + size);
	memcpy(in, req, n);
	memcpy(in + n, data + 1, size - 1);
	fuzz_pump(fuzz_base, sv[1], in, n + size - 1);
	free(in);
	aglink_free(fuzz_link);
	fuzz_link = NULL;
	fuzz_chan = NULL;
	close(sv[1]);
	aglink_shutdown();
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	return 0;
}
