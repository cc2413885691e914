/* The backend's side of the agent link (common/aglink/) as a workload
 * could drive it: an agent calling back (reverse mode, the sealed link).
 * First byte even: a valid sealed upgrade request goes first, the
 * harness reads the 101 and derives the agent's session from it, and the
 * rest of the input is records [flags][u16 length][bytes]: flags bit 0
 * clear, the bytes are sealed as the next message (in a masked binary
 * frame), set, they go raw (frames, garbage, forgeries). Odd: the input
 * is the byte stream itself, request included. A channel is open, so
 * HELLO, EVENT, DATA, META, EOF, CREDIT and RESULT all reach their
 * handlers. */
#include <sys/socket.h>

#include <stdio.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "fuzz.h"
#include "sockerless/aglink.h"
#include "sockerless/aglink_seal.h"
#include "sockerless/log.h"

#define FUZZ_CID "fuzzcid"
#define FUZZ_TOKEN \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The agent's fixed nonce (the backend's is random, read from its 101). */
static const unsigned char fuzz_na[AGLINK_SEAL_NONCE] = { 1, 2, 3 };
static char fuzz_req[1024];

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

/* The valid sealed upgrade request of FUZZ_CID. */
static void
fuzz_request(void)
{
	unsigned char mac[AGLINK_SEAL_MAC];
	char params[AGLINK_SEAL_PARAMS_LEN];

	if (aglink_seal_hello_mac(FUZZ_TOKEN, FUZZ_CID, fuzz_na, mac) == -1)
		abort();
	aglink_seal_params_format(params, fuzz_na, mac);
	snprintf(fuzz_req, sizeof(fuzz_req),
	    "GET " AGLINK_PATH " HTTP/1.1\r\nHost: backend\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Authorization: " AGLINK_SEAL_SCHEME " %s\r\n"
	    "X-Sockerless-Container: " FUZZ_CID "\r\n\r\n",
	    params);
}

/* Sends the request on fd and reads the 101: the agent's session from
 * its nonce. -1 when no 101 came. */
static int
fuzz_upgrade(int fd, struct aglink_seal *s)
{
	char resp[4096], *h;
	unsigned char nb[AGLINK_SEAL_NONCE], mac[AGLINK_SEAL_MAC];
	size_t got = 0;
	ssize_t n;

	if (write(fd, fuzz_req, strlen(fuzz_req)) != (ssize_t)strlen(fuzz_req))
		return -1;
	for (int i = 0; i < 50 && got < sizeof(resp) - 1; i++) {
		event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
		if ((n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
			got += (size_t)n;
		resp[got] = '\0';
		if (strstr(resp, "\r\n\r\n") != NULL)
			break;
	}
	if ((h = strstr(resp, AGLINK_SEAL_HEADER ": ")) == NULL)
		return -1;
	h += strlen(AGLINK_SEAL_HEADER ": ");
	h[strcspn(h, "\r")] = '\0';
	if (aglink_seal_params_parse(h, nb, mac) == -1)
		return -1;
	return aglink_seal_init(s, AGLINK_SEAL_AGENT, FUZZ_TOKEN, fuzz_na, nb);
}

/* The records of data as the agent's byte stream (see the top). */
static uint8_t *
fuzz_stream(
    struct aglink_seal *s, const uint8_t *data, size_t size, size_t *outlen)
{
	static const unsigned char mask[4] = { 0x5a, 0x11, 0xc3, 0x07 };
	uint8_t *out = malloc(size * 11 + 64), *o = out;
	size_t k, cap = size * 11 + 64;

	if (out == NULL)
		abort();
	while (size >= 3) {
		int raw = data[0] & 1;

		k = (size_t)data[1] << 8 | data[2];
		data += 3;
		size -= 3;
		if (k > size)
			k = size;
		if (raw) {
			memcpy(o, data, k);
			o += k;
		} else {
			size_t hl = ws_build_header(
			    o, WS_BINARY, k + AGLINK_SEAL_TAG, mask);

			memcpy(o + hl, data, k);
			aglink_seal_seal(s, o + hl, k, o + hl + k);
			ws_mask(o + hl, k + AGLINK_SEAL_TAG, mask, 0);
			o += hl + k + AGLINK_SEAL_TAG;
		}
		data += k;
		size -= k;
		if ((size_t)(o - out) + 64 > cap)
			abort();
	}
	*outlen = (size_t)(o - out);
	return out;
}

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
	fuzz_request();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aglink_seal seal;
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
	if (data[0] & 1) {
		fuzz_pump(fuzz_base, sv[1], data + 1, size - 1);
	} else if (fuzz_upgrade(sv[1], &seal) == 0) {
		in = fuzz_stream(&seal, data + 1, size - 1, &n);
		fuzz_pump(fuzz_base, sv[1], in, n);
		free(in);
	} else {
		abort(); /* a valid request always gets its 101 */
	}
	aglink_free(fuzz_link);
	fuzz_link = NULL;
	fuzz_chan = NULL;
	close(sv[1]);
	aglink_shutdown();
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	return 0;
}
