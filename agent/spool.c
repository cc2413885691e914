/* The main process's output as it passed (stream, time, bytes), kept in a
 * bounded spool for the link's `logs` kind (docs/agent-link.md): the
 * backend serves `docker logs` of a running container from it instead of
 * the cloud's log service. The oldest records go first when the spool is
 * full; a channel says whether its start is still byte 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "jread.h"
#include "sockerless/aglink_wire.h"

#define SPOOL_DEFAULT (4 * 1024 * 1024)
#define SPOOL_MIN     65536
/* A DATA message's header on a logs channel: the record's time. */
#define SPOOL_TS 8

struct spool_rec {
	int stream;
	int64_t ts_ns;
	uint64_t off; /* absolute: bytes ever spooled before it */
	size_t len;
};

static struct {
	size_t limit;
	char *buf; /* buf[0] is absolute offset base */
	size_t blen, bcap;
	uint64_t base, end; /* absolute offsets of buf[0] and of the end */
	uint64_t dropped;   /* absolute offset of the first byte kept */
	struct spool_rec *rec;
	size_t head, n, cap; /* records rec[head..head+n) */
	int done, exit_code;
} spool;

void
spool_init(const char *limit)
{
	char *end;
	unsigned long long v;

	memset(&spool, 0, sizeof(spool));
	spool.limit = SPOOL_DEFAULT;
	if (limit == NULL || *limit == '\0')
		return;
	v = strtoull(limit, &end, 10);
	if (*end != '\0' || limit[0] < '0' || limit[0] > '9' || v < SPOOL_MIN ||
	    v > (1ULL << 30)) {
		fprintf(stderr,
		    "sockerless-agent: SOCKERLESS_LOG_SPOOL must be a number "
		    "of bytes from %d to %llu; using %d\n",
		    SPOOL_MIN, 1ULL << 30, SPOOL_DEFAULT);
		return;
	}
	spool.limit = (size_t)v;
}

/* Drops the oldest records until n more bytes fit. */
static void
spool_make_room(size_t n)
{
	struct spool_rec *r;

	while (spool.n > 0 && spool.end - spool.dropped + n > spool.limit) {
		r = &spool.rec[spool.head];
		spool.dropped = r->off + r->len;
		spool.head++;
		spool.n--;
	}
	if (spool.n == 0) {
		spool.head = 0;
		spool.dropped = spool.end;
	}
	/* Reclaim the dropped prefix of the byte buffer. */
	if (spool.dropped - spool.base > spool.bcap / 2 ||
	    spool.blen + n > spool.bcap) {
		size_t gone = (size_t)(spool.dropped - spool.base);

		memmove(spool.buf, spool.buf + gone, spool.blen - gone);
		spool.blen -= gone;
		spool.base = spool.dropped;
	}
	if (spool.blen + n > spool.bcap) {
		spool.bcap =
		    spool.blen + n < 65536 ? 65536 : (spool.blen + n) * 2;
		if (spool.bcap > spool.limit + SPOOL_MIN)
			spool.bcap = spool.limit + SPOOL_MIN;
		if (spool.bcap < spool.blen + n)
			spool.bcap = spool.blen + n;
		spool.buf = xrealloc(spool.buf, spool.bcap);
	}
	if (spool.head > 0 && spool.head + spool.n == spool.cap) {
		memmove(spool.rec, spool.rec + spool.head,
		    spool.n * sizeof(*spool.rec));
		spool.head = 0;
	}
	if (spool.head + spool.n == spool.cap) {
		spool.cap = spool.cap == 0 ? 256 : spool.cap * 2;
		spool.rec = xrealloc(spool.rec, spool.cap * sizeof(*spool.rec));
	}
}

void
spool_add(int stream, const char *p, size_t n, int64_t ts_ns)
{
	struct spool_rec *r;

	if (n == 0)
		return;
	if (n > spool.limit) { /* never: reads are at most 64 KiB */
		p += n - spool.limit;
		spool.end += n - spool.limit;
		n = spool.limit;
	}
	spool_make_room(n);
	memcpy(spool.buf + spool.blen, p, n);
	spool.blen += n;
	r = &spool.rec[spool.head + spool.n++];
	r->stream = stream;
	r->ts_ns = ts_ns;
	r->off = spool.end;
	r->len = n;
	spool.end += n;
}

void
spool_end(int exit_code)
{
	spool.done = 1;
	spool.exit_code = exit_code;
}

/* The record holding absolute offset at (at is within the spool). */
static const struct spool_rec *
spool_find(uint64_t at)
{
	size_t lo = 0, hi = spool.n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (spool.rec[spool.head + mid].off <= at)
			lo = mid;
		else
			hi = mid;
	}
	return &spool.rec[spool.head + lo];
}

void
spool_open(struct chan *c, const char *req, size_t len)
{
	char meta[96];

	c->logs_follow = jread_bool(req, len, "follow", 0);
	c->logs_at = spool.dropped;
	c->logs_to = spool.end;
	snprintf(meta, sizeof(meta), "{\"dropped\":%llu,\"complete\":%s}",
	    (unsigned long long)spool.dropped,
	    spool.dropped == 0 ? "true" : "false");
	link_send(AGLINK_META, 0, c->id, meta, strlen(meta));
}

/* Sends what the window allows; ends the channel when it has all. */
static void
spool_pump(struct chan *c)
{
	static unsigned char msg[SPOOL_TS + 65536];
	static const char live[] = "{\"live\":true}";
	const struct spool_rec *r;
	uint64_t to = c->logs_follow ? spool.end : c->logs_to;
	size_t room, take;
	char json[48];

	if (c->logs_at < spool.dropped) {
		/* The spool dropped what this reader had not had. */
		chan_result(c,
		    "{\"status\":507,\"message\":\"the agent's log spool "
		    "dropped output this reader had not taken yet\"}");
		return;
	}
	while (c->logs_at < to && (room = chan_room(c)) > SPOOL_TS) {
		r = spool_find(c->logs_at);
		take = (size_t)(r->off + r->len - c->logs_at);
		if (take > room - SPOOL_TS)
			take = room - SPOOL_TS;
		if (take > sizeof(msg) - SPOOL_TS)
			take = sizeof(msg) - SPOOL_TS;
		aglink_put_u32(msg, (uint32_t)((uint64_t)r->ts_ns >> 32));
		aglink_put_u32(msg + 4, (uint32_t)r->ts_ns);
		memcpy(msg + SPOOL_TS,
		    spool.buf + (size_t)(c->logs_at - spool.base), take);
		chan_data(c, r->stream, msg, SPOOL_TS + take);
		c->logs_at += take;
	}
	if (c->logs_at < c->logs_to)
		return;
	if (c->logs_follow && !c->logs_live) {
		/* What was spooled at the OPEN is sent: the rest is new. */
		c->logs_live = 1;
		link_send(AGLINK_META, 0, c->id, live, sizeof(live) - 1);
	}
	if (c->logs_at < to)
		return;
	if (!c->logs_follow) {
		chan_result(c, "{}");
	} else if (spool.done) {
		snprintf(
		    json, sizeof(json), "{\"exitCode\":%d}", spool.exit_code);
		chan_result(c, json);
	}
}

void
spool_prepare(void)
{
	struct chan *c;

	for (c = chan_list; c != NULL; c = c->next)
		if (!c->dead && c->kind == CHAN_LOGS)
			spool_pump(c);
}

int
spool_behind(void)
{
	struct chan *c;

	for (c = chan_list; c != NULL; c = c->next)
		if (!c->dead && c->kind == CHAN_LOGS && c->logs_follow &&
		    c->logs_at < spool.end)
			return 1;
	return 0;
}
