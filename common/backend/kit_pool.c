/* The pool of a function backend's cloud functions (kit_faas.h): each
 * made once (the backend's create), pointed at a derived image when a
 * run needs another one (its point), handed to one run at a time,
 * deleted after pool_idle without use (its remove). A full pool makes
 * starts wait up to pool_wait, then answer 503. One pool a process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "sockerless/kit_faas.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

#define KIT_POOL_TICK_MS 1000
#define KIT_POOL_MAX_N	 1000

enum kit_slot_state {
	KIT_SLOT_CREATING,
	KIT_SLOT_POINTING,
	KIT_SLOT_FREE,
	KIT_SLOT_BUSY,
	KIT_SLOT_DELETING
};

struct kit_slot {
	TAILQ_ENTRY(kit_slot) entry;
	int n;
	char *name;
	char *url;
	void *data;
	char *image; /* what the function runs; NULL: unknown */
	long long mib, timeout_s;
	enum kit_slot_state state;
	int64_t idle_since_ns;
	int64_t quiet_until_ns; /* an abandoned run may still be there */
	/* the take waiting for this slot's creation or pointing */
	kit_slot_cb cb;
	void *arg;
	char *want_image;
	long long want_mib, want_timeout;
};

struct kit_wait {
	TAILQ_ENTRY(kit_wait) entry;
	char *image;
	long long mib, timeout_s;
	int64_t deadline_ns;
	kit_slot_cb cb;
	void *arg;
};

/* Quiet times asked for before the pool was listed. */
struct kit_quiet {
	TAILQ_ENTRY(kit_quiet) entry;
	char *name;
	int64_t until_ns;
};

static struct {
	struct kit_pool_conf conf; /* strings owned */
	TAILQ_HEAD(, kit_quiet) quiets;
	TAILQ_HEAD(, kit_slot) slots;
	TAILQ_HEAD(, kit_wait) waits;
	struct event *timer;
	int started;
} kp = {
	.quiets = TAILQ_HEAD_INITIALIZER(kp.quiets),
	.slots = TAILQ_HEAD_INITIALIZER(kp.slots),
	.waits = TAILQ_HEAD_INITIALIZER(kp.waits),
};

const char *
kit_slot_name(const struct kit_slot *s)
{
	return s->name;
}

const char *
kit_slot_url(const struct kit_slot *s)
{
	return s->url;
}

void *
kit_slot_data(const struct kit_slot *s)
{
	return s->data;
}

const char *
kit_slot_want_image(const struct kit_slot *s)
{
	return s->want_image;
}

long long
kit_slot_want_mib(const struct kit_slot *s)
{
	return s->want_mib;
}

long long
kit_slot_want_timeout(const struct kit_slot *s)
{
	return s->want_timeout;
}

void
kit_slot_set_url(struct kit_slot *s, const char *url)
{
	free(s->url);
	s->url = url != NULL ? xstrdup(url) : NULL;
}

void
kit_slot_set_data(struct kit_slot *s, void *data)
{
	if (s->data != NULL && s->data != data && kp.conf.ops->data_free)
		kp.conf.ops->data_free(s->data);
	s->data = data;
}

int
kit_pool_number_of(const char *prefix, const char *name)
{
	size_t plen = strlen(prefix);
	long long n;

	if (name == NULL || strncmp(name, prefix, plen) != 0 ||
	    str_tonum(name + plen, 1, KIT_POOL_MAX_N, &n, NULL) == -1)
		return -1;
	return (int)n;
}

static void
kit_slot_free(struct kit_slot *s)
{
	free(s->name);
	free(s->url);
	if (s->data != NULL && kp.conf.ops != NULL && kp.conf.ops->data_free)
		kp.conf.ops->data_free(s->data);
	free(s->image);
	free(s->want_image);
	free(s);
}

static void
kit_pool_drop(struct kit_slot *s)
{
	TAILQ_REMOVE(&kp.slots, s, entry);
	kit_slot_free(s);
}

/* Ends the waiting take of s with s (busy) or with e. */
static void
kit_pool_answer(struct kit_slot *s, const struct err *e)
{
	kit_slot_cb cb = s->cb;
	void *arg = s->arg;

	s->cb = NULL;
	s->arg = NULL;
	if (cb == NULL)
		return;
	if (e == NULL) {
		s->state = KIT_SLOT_BUSY;
		cb(arg, s, NULL);
	} else {
		cb(arg, NULL, e);
	}
}

static void kit_pool_dispatch(void);

/* --- deleting ------------------------------------------------------------- */

static void
kit_pool_deleted(void *arg, const struct err *e)
{
	struct kit_slot *s = arg;

	if (e != NULL) {
		log_warnx("deleting pool %s %s: %s; will retry", kp.conf.what,
		    s->name, e->msg);
		s->state = KIT_SLOT_FREE;
		s->idle_since_ns = str_now_ns();
		return;
	}
	log_info("deleted idle pool %s %s", kp.conf.what, s->name);
	kit_pool_drop(s);
	kit_pool_dispatch();
}

struct kit_rm {
	TAILQ_ENTRY(kit_rm) entry;
	void (*done)(void *arg, const struct err *e);
	void *arg;
	int own_arg; /* arg is freed with r when no answer comes */
};
static TAILQ_HEAD(, kit_rm) kit_rms = TAILQ_HEAD_INITIALIZER(kit_rms);

static void
kit_pool_remove(const char *name, void (*done)(void *arg, const struct err *e),
    void *arg, int own_arg)
{
	struct kit_rm *r = xcalloc(1, sizeof(*r));

	r->done = done;
	r->arg = arg;
	r->own_arg = own_arg;
	TAILQ_INSERT_TAIL(&kit_rms, r, entry);
	kp.conf.ops->remove(r, name);
}

void
kit_pool_removed(struct kit_rm *r, const struct err *e)
{
	TAILQ_REMOVE(&kit_rms, r, entry);
	r->done(r->arg, e);
	free(r);
}

static void
kit_pool_delete(struct kit_slot *s)
{
	s->state = KIT_SLOT_DELETING;
	kit_pool_remove(s->name, kit_pool_deleted, s, 0);
}

/* --- pointing and creating ------------------------------------------------ */

void
kit_slot_pointed(struct kit_slot *s, const struct err *e)
{
	struct err e2;

	if (e != NULL) {
		free(s->image);
		s->image = NULL; /* unknown now: the next use re-points */
		s->state = KIT_SLOT_FREE;
		s->idle_since_ns = str_now_ns();
		e2 = *e;
		err_wrap(
		    &e2, "pointing %s %s at the image", kp.conf.what, s->name);
		if (e2.status < 400 || e2.status == 404)
			e2.status = 500;
		kit_pool_answer(s, &e2);
		kit_pool_dispatch();
		return;
	}
	free(s->image);
	s->image = s->want_image;
	s->want_image = NULL;
	s->mib = s->want_mib;
	s->timeout_s = s->want_timeout;
	kit_pool_answer(s, NULL);
}

static void
kit_pool_point(struct kit_slot *s)
{
	s->state = KIT_SLOT_POINTING;
	kp.conf.ops->point(s);
}

static void
kit_pool_discarded(void *arg, const struct err *e)
{
	char *name = arg;

	if (e != NULL)
		log_warnx("deleting %s %s of a failed create: %s", kp.conf.what,
		    name, e->msg);
	free(name);
}

void
kit_slot_created(struct kit_slot *s, int pointed, const struct err *e)
{
	struct err e2;

	if (e != NULL) {
		/* It may exist: it goes. */
		kit_pool_remove(
		    s->name, kit_pool_discarded, xstrdup(s->name), 1);
		e2 = *e;
		err_wrap(&e2, "creating %s %s", kp.conf.what, s->name);
		TAILQ_REMOVE(&kp.slots, s, entry);
		kit_pool_answer(s, &e2);
		kit_slot_free(s);
		kit_pool_dispatch();
		return;
	}
	log_info("pool %s %s made (%s)", kp.conf.what, s->name,
	    s->url != NULL ? s->url : "no URL");
	if (pointed)
		kit_slot_pointed(s, NULL);
	else
		kit_pool_point(s);
}

/* The smallest free slot number. */
static int
kit_pool_number(void)
{
	struct kit_slot *s;
	int n, used;

	for (n = 1;; n++) {
		used = 0;
		TAILQ_FOREACH(s, &kp.slots, entry)
			used |= s->n == n;
		if (!used)
			return n;
	}
}

static struct kit_slot *
kit_pool_slot_new(int n)
{
	struct kit_slot *s = xcalloc(1, sizeof(*s));

	s->n = n;
	s->name = xasprintf("%s%d", kp.conf.prefix, n);
	TAILQ_INSERT_TAIL(&kp.slots, s, entry);
	return s;
}

/* --- taking and giving ---------------------------------------------------- */

/* A slot numbered past pool_max (the key was lowered since it was made)
 * takes no runs and goes once idle. */
static int
kit_pool_surplus(const struct kit_slot *s)
{
	return s->n > kp.conf.pool_max;
}

static int
kit_pool_usable(const struct kit_slot *s, int64_t now)
{
	return s->state == KIT_SLOT_FREE && s->quiet_until_ns <= now;
}

static void
kit_pool_want(struct kit_slot *s, const char *image, long long mib,
    long long timeout_s, kit_slot_cb cb, void *arg)
{
	free(s->want_image);
	s->want_image = xstrdup(image);
	s->want_mib = mib;
	s->want_timeout = timeout_s;
	s->cb = cb;
	s->arg = arg;
}

/* 1 when the take was served (or is on its way), 0 when the pool is full. */
static int
kit_pool_try(const char *image, long long mib, long long timeout_s,
    kit_slot_cb cb, void *arg)
{
	struct kit_slot *s, *any = NULL;
	int64_t now = str_now_ns();
	int count = 0;

	TAILQ_FOREACH(s, &kp.slots, entry) {
		if (kit_pool_surplus(s))
			continue;
		count += s->state != KIT_SLOT_DELETING;
		if (!kit_pool_usable(s, now))
			continue;
		if (s->image != NULL && strcmp(s->image, image) == 0 &&
		    (kp.conf.image_only ||
			(s->mib == mib && s->timeout_s == timeout_s))) {
			s->state = KIT_SLOT_BUSY;
			cb(arg, s, NULL);
			return 1;
		}
		if (any == NULL)
			any = s;
	}
	if (any != NULL) {
		kit_pool_want(any, image, mib, timeout_s, cb, arg);
		kit_pool_point(any);
		return 1;
	}
	if (count >= kp.conf.pool_max)
		return 0;
	s = kit_pool_slot_new(kit_pool_number());
	kit_pool_want(s, image, mib, timeout_s, cb, arg);
	s->state = KIT_SLOT_CREATING;
	log_info("making pool %s %s", kp.conf.what, s->name);
	kp.conf.ops->create(s);
	return 1;
}

void
kit_pool_take(const char *image, long long mib, long long timeout_s,
    kit_slot_cb cb, void *arg)
{
	struct kit_wait *w;
	struct err e;

	/* Waiters first: a new take must not overtake them. */
	if (TAILQ_EMPTY(&kp.waits) &&
	    kit_pool_try(image, mib, timeout_s, cb, arg))
		return;
	if (kp.conf.pool_wait == 0) {
		err_set(&e, 503,
		    "all %lld %ss of the pool are busy (%s.pool_max); retry "
		    "later or raise %s.pool_max",
		    kp.conf.pool_max, kp.conf.what, kp.conf.key, kp.conf.key);
		cb(arg, NULL, &e);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->image = xstrdup(image);
	w->mib = mib;
	w->timeout_s = timeout_s;
	w->cb = cb;
	w->arg = arg;
	w->deadline_ns = str_now_ns() + kp.conf.pool_wait * 1000000000LL;
	TAILQ_INSERT_TAIL(&kp.waits, w, entry);
}

/* Serves waiters in order while the pool can. */
static void
kit_pool_dispatch(void)
{
	struct kit_wait *w;

	while ((w = TAILQ_FIRST(&kp.waits)) != NULL &&
	    kit_pool_try(w->image, w->mib, w->timeout_s, w->cb, w->arg)) {
		TAILQ_REMOVE(&kp.waits, w, entry);
		free(w->image);
		free(w);
	}
}

void
kit_pool_give(struct kit_slot *s, long long busy_for_s)
{
	int64_t now = str_now_ns();

	s->state = KIT_SLOT_FREE;
	s->idle_since_ns = now;
	s->quiet_until_ns =
	    busy_for_s > 0 ? now + busy_for_s * 1000000000LL : 0;
	kit_pool_dispatch();
}

/* --- the tick: waiters' deadlines, idle deletion -------------------------- */

static void
kit_pool_tick(evutil_socket_t fd, short what, void *arg)
{
	struct kit_wait *w, *wn;
	struct kit_slot *s, *sn;
	int64_t now = str_now_ns();
	struct err e;

	(void)fd;
	(void)what;
	(void)arg;
	kit_pool_dispatch();
	for (w = TAILQ_FIRST(&kp.waits); w != NULL; w = wn) {
		wn = TAILQ_NEXT(w, entry);
		if (w->deadline_ns > now)
			continue;
		TAILQ_REMOVE(&kp.waits, w, entry);
		err_set(&e, 503,
		    "all %lld %ss of the pool stayed busy for %lld s "
		    "(%s.pool_wait); retry later or raise %s.pool_max",
		    kp.conf.pool_max, kp.conf.what, kp.conf.pool_wait,
		    kp.conf.key, kp.conf.key);
		w->cb(w->arg, NULL, &e);
		free(w->image);
		free(w);
	}
	for (s = TAILQ_FIRST(&kp.slots); s != NULL; s = sn) {
		sn = TAILQ_NEXT(s, entry);
		if (kit_pool_usable(s, now) &&
		    (kit_pool_surplus(s) ||
			now - s->idle_since_ns >
			    kp.conf.pool_idle * 1000000000LL))
			kit_pool_delete(s);
	}
}

/* --- finding the pool again ----------------------------------------------- */

void
kit_pool_quiet(const char *name, long long seconds)
{
	struct kit_quiet *q = xcalloc(1, sizeof(*q));
	struct kit_slot *s;

	q->name = xstrdup(name);
	q->until_ns = str_now_ns() + (seconds > 0 ? seconds : 0) * 1000000000LL;
	TAILQ_INSERT_TAIL(&kp.quiets, q, entry);
	TAILQ_FOREACH(s, &kp.slots, entry)
		if (strcmp(s->name, name) == 0 &&
		    s->quiet_until_ns < q->until_ns)
			s->quiet_until_ns = q->until_ns;
}

void
kit_pool_found(const char *name, int usable, const char *url, const char *image,
    void *data)
{
	int n = kit_pool_number_of(kp.conf.prefix, name);
	struct kit_slot *s;
	struct kit_quiet *q;

	if (n == -1) {
		if (data != NULL && kp.conf.ops->data_free)
			kp.conf.ops->data_free(data);
		return;
	}
	TAILQ_FOREACH(s, &kp.slots, entry)
		if (s->n == n) {
			/* already known (made since the listing began) */
			if (data != NULL && kp.conf.ops->data_free)
				kp.conf.ops->data_free(data);
			return;
		}
	s = kit_pool_slot_new(n);
	s->idle_since_ns = str_now_ns();
	s->data = data;
	if (!usable || url == NULL) {
		kit_pool_delete(s);
		return;
	}
	s->url = xstrdup(url);
	s->image = image != NULL ? xstrdup(image) : NULL;
	s->state = KIT_SLOT_FREE;
	TAILQ_FOREACH(q, &kp.quiets, entry)
		if (strcmp(q->name, s->name) == 0 &&
		    s->quiet_until_ns < q->until_ns)
			s->quiet_until_ns = q->until_ns;
}

void
kit_pool_listed(const struct err *e)
{
	struct kit_slot *s;
	int n = 0;

	if (e != NULL) {
		log_warnx("listing the pool's %ss: %s (they are found again "
			  "at the next start)",
		    kp.conf.what, e->msg);
		return;
	}
	TAILQ_FOREACH(s, &kp.slots, entry)
		n++;
	log_info("the pool has %d %s(s)", n, kp.conf.what);
	kit_pool_dispatch();
}

void
kit_pool_start(struct backend *b, const struct kit_pool_conf *conf)
{
	struct timeval tv = { KIT_POOL_TICK_MS / 1000,
		(KIT_POOL_TICK_MS % 1000) * 1000 };

	kp.conf = *conf;
	kp.conf.what = xstrdup(conf->what);
	kp.conf.key = xstrdup(conf->key);
	kp.conf.prefix = xstrdup(conf->prefix);
	kp.started = 1;
	kp.timer =
	    event_new(backend_base(b), -1, EV_PERSIST, kit_pool_tick, NULL);
	event_add(kp.timer, &tv);
	kp.conf.ops->list();
}

void
kit_pool_stop(void)
{
	struct kit_wait *w, *wn;
	struct kit_slot *s, *sn;
	struct kit_quiet *q, *qn;
	struct kit_rm *r, *rn;

	if (kp.timer != NULL)
		event_free(kp.timer);
	kp.timer = NULL;
	/* Deletions whose answers the shutdown drops. */
	for (r = TAILQ_FIRST(&kit_rms); r != NULL; r = rn) {
		rn = TAILQ_NEXT(r, entry);
		if (r->own_arg)
			free(r->arg);
		free(r);
	}
	TAILQ_INIT(&kit_rms);
	/* Walked with the next pointer: what is freed is never read again. */
	for (q = TAILQ_FIRST(&kp.quiets); q != NULL; q = qn) {
		qn = TAILQ_NEXT(q, entry);
		free(q->name);
		free(q);
	}
	TAILQ_INIT(&kp.quiets);
	for (w = TAILQ_FIRST(&kp.waits); w != NULL; w = wn) {
		wn = TAILQ_NEXT(w, entry);
		free(w->image);
		free(w);
	}
	TAILQ_INIT(&kp.waits);
	for (s = TAILQ_FIRST(&kp.slots); s != NULL; s = sn) {
		sn = TAILQ_NEXT(s, entry);
		kit_slot_free(s);
	}
	TAILQ_INIT(&kp.slots);
	if (kp.started) {
		free((char *)kp.conf.what);
		free((char *)kp.conf.key);
		free((char *)kp.conf.prefix);
	}
	memset(&kp.conf, 0, sizeof(kp.conf));
	kp.started = 0;
}
