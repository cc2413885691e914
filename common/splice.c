/* Bidirectional byte copy between two bufferevents; see splice.h. */
#include <sys/socket.h>

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "sockerless/splice.h"
#include "sockerless/xmalloc.h"

/* Above this many bytes queued for one side, reading the other pauses;
 * it resumes when the queue falls to half. */
#define SPLICE_HIGH (1024 * 1024)

struct side {
	struct bufferevent *bev;
	int eof;  /* no more input from this side */
	int shut; /* we sent this side EOF (shutdown SHUT_WR) */
};

struct splice {
	struct side s[2];
	void (*done)(void *);
	void *arg;
};

static void splice_finish(struct splice *sp, int call_done);

static int
splice_idx(struct splice *sp, struct bufferevent *bev)
{
	return sp->s[0].bev == bev ? 0 : 1;
}

/* Sends the peer EOF once everything queued for it is written. */
static void
splice_maybe_shut(struct splice *sp, int to)
{
	struct side *dst = &sp->s[to], *src = &sp->s[1 - to];
	evutil_socket_t fd;

	if (!src->eof || dst->shut ||
	    evbuffer_get_length(bufferevent_get_output(dst->bev)) > 0)
		return;
	dst->shut = 1;
	fd = bufferevent_getfd(dst->bev);
	/* Over TLS (a hijacked stream of a TLS client) the end of the stream
	 * is close_notify, then the TCP half-close. */
	if (bufferevent_openssl_get_ssl(dst->bev) != NULL)
		SSL_shutdown(bufferevent_openssl_get_ssl(dst->bev));
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
}

static int
splice_check_done(struct splice *sp)
{
	if (sp->s[0].eof && sp->s[1].eof && sp->s[0].shut && sp->s[1].shut) {
		splice_finish(sp, 1);
		return 1;
	}
	return 0;
}

static void
splice_read_cb(struct bufferevent *bev, void *arg)
{
	struct splice *sp = arg;
	int from = splice_idx(sp, bev);
	struct bufferevent *to = sp->s[1 - from].bev;
	struct evbuffer *out = bufferevent_get_output(to);

	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (evbuffer_get_length(out) >= SPLICE_HIGH)
		bufferevent_disable(bev, EV_READ);
}

static void
splice_write_cb(struct bufferevent *bev, void *arg)
{
	struct splice *sp = arg;
	int to = splice_idx(sp, bev);
	struct side *src = &sp->s[1 - to];

	/* Below the low watermark: let the source read again. */
	if (!src->eof)
		bufferevent_enable(src->bev, EV_READ);
	splice_maybe_shut(sp, to);
	splice_check_done(sp);
}

static void
splice_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct splice *sp = arg;
	int from = splice_idx(sp, bev);

	if (what & BEV_EVENT_ERROR) {
		splice_finish(sp, 1);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		struct bufferevent *to = sp->s[1 - from].bev;

		/* Anything read before EOF still goes across. */
		evbuffer_add_buffer(
		    bufferevent_get_output(to), bufferevent_get_input(bev));
		sp->s[from].eof = 1;
		splice_maybe_shut(sp, 1 - from);
		splice_check_done(sp);
	}
}

struct splice *
splice_new(struct bufferevent *a, struct bufferevent *b, void (*done)(void *),
    void *arg)
{
	struct splice *sp = xcalloc(1, sizeof(*sp));

	sp->s[0].bev = a;
	sp->s[1].bev = b;
	sp->done = done;
	sp->arg = arg;
	for (int i = 0; i < 2; i++) {
		bufferevent_setcb(sp->s[i].bev, splice_read_cb, splice_write_cb,
		    splice_event_cb, sp);
		bufferevent_setwatermark(
		    sp->s[i].bev, EV_WRITE, SPLICE_HIGH / 2, 0);
		bufferevent_set_timeouts(sp->s[i].bev, NULL, NULL);
		bufferevent_enable(sp->s[i].bev, EV_READ | EV_WRITE);
	}
	/* Bytes that arrived before the splice began (after a hijack). */
	for (int i = 0; i < 2; i++)
		if (evbuffer_get_length(bufferevent_get_input(sp->s[i].bev)) >
		    0)
			splice_read_cb(sp->s[i].bev, sp);
	return sp;
}

static void
splice_finish(struct splice *sp, int call_done)
{
	void (*done)(void *) = sp->done;
	void *arg = sp->arg;

	for (int i = 0; i < 2; i++)
		bufferevent_free(sp->s[i].bev);
	free(sp);
	if (call_done && done != NULL)
		done(arg);
}

void
splice_free(struct splice *sp)
{
	if (sp != NULL)
		splice_finish(sp, 0);
}
