/* Kept-alive connections to the backend between requests: at most
 * backend_pool idle ones, each closed after POOL_IDLE_S idle, and none
 * used again once the backend behind them may have changed. */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "frontend.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

/* Below the backend's own idle timeout (5 min), so that the backend
 * rarely closes a connection the frontend is about to use; a fresh one
 * (made by a _ping) below its 30 s for a connection's first request. */
#define POOL_IDLE_S	  60
#define POOL_FRESH_IDLE_S 20

/* How often a pooled connection's use looks at the backend's socket file
 * (a stat is a syscall per request otherwise); a new connection always
 * does. A backend that went away ends its connections anyway (pool_read,
 * and a send to it fails before anything leaves: proxy.c resends). */
#define POOL_IDENT_MS 1000

struct pool_conn {
	TAILQ_ENTRY(pool_conn) entry;
	struct bufferevent *be;
};

static TAILQ_HEAD(pool_head, pool_conn) pool_idle = TAILQ_HEAD_INITIALIZER(
    pool_idle);
static struct {
	long n;	      /* idle connections */
	unsigned gen; /* bumped when the backend may have changed */
	int have_ident;
	dev_t dev; /* the unix socket the connections were made to */
	ino_t ino;
	struct timeval checked; /* the last look at the socket file */
} pool;

static void
pool_drop(struct pool_conn *pc)
{
	TAILQ_REMOVE(&pool_idle, pc, entry);
	pool.n--;
	bufferevent_free(pc->be);
	free(pc);
}

/* An idle connection has nothing to say: data, an end or an error (or
 * the idle timeout) means it is done. */
static void
pool_read(struct bufferevent *be, void *arg)
{
	(void)be;
	pool_drop(arg);
}

static void
pool_event(struct bufferevent *be, short what, void *arg)
{
	(void)be;
	(void)what;
	pool_drop(arg);
}

void
pool_flush(void)
{
	struct pool_conn *pc;

	pool.gen++;
	/* The analyzer loses pool_drop's TAILQ_REMOVE: a false positive. */
	while ((pc = TAILQ_FIRST(&pool_idle)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		pool_drop(pc);
}

/* Whether the unix socket at path is still the one the pooled connections
 * were made to; a new one (a backend restarted or swapped in) flushes the
 * pool. Over TCP the backend's instance header does that (proxy.c). */
static void
pool_check_ident(const char *path, int now)
{
	struct timeval tv;
	struct stat st;

	if (path == NULL)
		return;
	/* The loop's cached time: no syscall. */
	if (event_base_gettimeofday_cached(frontend->base, &tv) == 0) {
		long ms = (tv.tv_sec - pool.checked.tv_sec) * 1000L +
		    (tv.tv_usec - pool.checked.tv_usec) / 1000L;

		if (!now && pool.have_ident && ms >= 0 && ms < POOL_IDENT_MS)
			return;
		pool.checked = tv;
	}
	if (stat(path, &st) == -1) {
		if (pool.have_ident)
			pool_flush();
		pool.have_ident = 0;
		return;
	}
	if (pool.have_ident && st.st_dev == pool.dev && st.st_ino == pool.ino)
		return;
	if (pool.have_ident)
		log_debug("backend socket %s replaced: dropping %ld idle "
			  "connections",
		    path, pool.n);
	pool_flush();
	pool.have_ident = 1;
	pool.dev = st.st_dev;
	pool.ino = st.st_ino;
}

unsigned
pool_connecting(const char *path)
{
	pool_check_ident(path, 1);
	return pool.gen;
}

/* Whether be's socket is open both ways with nothing unread: the end of
 * a connection the backend closed may wait unprocessed in the kernel.
 * With peek 0 (a request about to go over a unix socket) only what the
 * loop already read is looked at: a send to a closed unix socket fails
 * before anything leaves, and the request goes again on a new
 * connection (proxy_resend), so the syscall is saved. */
static int
pool_alive(struct bufferevent *be, int peek)
{
	char c;
	ssize_t n;

	if (evbuffer_get_length(bufferevent_get_input(be)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(be)) > 0)
		return 0;
	if (!peek)
		return 1;
	n = recv(bufferevent_getfd(be), &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct bufferevent *
pool_take(const char *path, unsigned *gen)
{
	struct pool_conn *pc;
	struct bufferevent *be;

	pool_check_ident(path, 0);
	/* The most recently used first: the others age out. (The analyzer
	 * loses pool_drop's TAILQ_REMOVE: a false positive.) */
	while ((pc = TAILQ_LAST(&pool_idle, pool_head)) != NULL) {
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		if (!pool_alive(pc->be, path == NULL)) {
			pool_drop(pc);
			continue;
		}
		be = pc->be;
		TAILQ_REMOVE(&pool_idle, pc, entry);
		pool.n--;
		free(pc);
		bufferevent_setcb(be, NULL, NULL, NULL, NULL);
		bufferevent_set_timeouts(be, NULL, NULL);
		*gen = pool.gen;
		return be;
	}
	return NULL;
}

int
pool_live(const char *path)
{
	struct pool_conn *pc;

	pool_check_ident(path, 0);
	/* A _ping's answer says the backend is there: always looked at. */
	while ((pc = TAILQ_LAST(&pool_idle, pool_head)) != NULL) {
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): as pool_take */
		if (pool_alive(pc->be, 1))
			return 1;
		pool_drop(pc);
	}
	return 0;
}

void
pool_put(struct bufferevent *be, unsigned gen, int fresh)
{
	struct timeval tv = { fresh ? POOL_FRESH_IDLE_S : POOL_IDLE_S, 0 };
	struct pool_conn *pc;

	/* Its end, if the backend closed it, is noticed idle or taken. */
	if (gen != pool.gen || pool.n >= frontend->conf.backend_pool ||
	    evbuffer_get_length(bufferevent_get_input(be)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(be)) > 0) {
		bufferevent_free(be);
		return;
	}
	pc = xcalloc(1, sizeof(*pc));
	pc->be = be;
	TAILQ_INSERT_TAIL(&pool_idle, pc, entry);
	pool.n++;
	bufferevent_setcb(be, pool_read, NULL, pool_event, pc);
	bufferevent_set_timeouts(be, &tv, NULL);
	bufferevent_enable(be, EV_READ);
}

unsigned
pool_generation(void)
{
	return pool.gen;
}

long
pool_size(void)
{
	return pool.n;
}
