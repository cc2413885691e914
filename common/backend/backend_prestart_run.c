/* Files before start, delivered (backend_prestart.h): once ops->start has
 * the workload running with its command held (SOCKERLESS_HOLD), each
 * copy-up (the image's files at a new volume's mount point, unpacked by
 * the agent only while the volume is empty) and then each kept put goes
 * to the agent as an archive_put; the agent's `start` follows
 * (backend_agent_container_running). One failing fails the start with
 * the agent's answer (backend_ctr_life.c stops the workload). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_agent.h"
#include "backend_img.h"
#include "backend_prestart.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define PRESTART_CHUNK 65536

struct prestart {
	struct backend *b;
	struct container *c; /* referenced */
	backend_done_fn done;
	void *arg;
	cJSON *targets;	   /* copy-up targets still to ask the image for */
	cJSON *items;	   /* [{path, file, ifEmpty, ...}] in sending order */
	cJSON *tree_files; /* copy-up tars: one per item with ifEmpty */
	int next;
	struct aglink_chan *ch;
	int fd;
	unsigned char buf[PRESTART_CHUNK];
	size_t len, off;
	int eof_sent;
	struct err e; /* the failure, while the workload is stopped */
};

static void prestart_send_next(struct prestart *p);

static void
prestart_free(struct prestart *p)
{
	if (p->ch != NULL)
		aglink_chan_close(p->ch);
	if (p->fd != -1)
		close(p->fd);
	cJSON_Delete(p->targets);
	cJSON_Delete(p->tree_files);
	cJSON_Delete(p->items);
	container_unref(p->c);
	free(p);
}

/* The end: done (the caller releases the command, or stops the
 * workload). */
static void
prestart_finish(struct prestart *p, const struct err *e)
{
	backend_done_fn done = p->done;
	void *arg = p->arg;
	struct err copy;

	if (e != NULL) {
		copy = *e; /* e may be p's own */
		e = &copy;
	}
	if (p->c->agent != NULL)
		p->c->agent->prestart = 0;
	prestart_free(p);
	done(arg, e);
}

static void
prestart_fail(struct prestart *p)
{
	log_warnx("container %.12s: start failed: %s", p->c->id, p->e.msg);
	prestart_finish(p, &p->e);
}

/* --- sending one archive ------------------------------------------------ */

static void
prestart_feed(struct prestart *p)
{
	ssize_t n;
	size_t w;

	while (p->ch != NULL && !p->eof_sent) {
		if (p->off == p->len) {
			n = read(p->fd, p->buf, sizeof(p->buf));
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1) {
				err_set(&p->e, 500,
				    "reading a kept archive: %s",
				    strerror(errno));
				prestart_fail(p);
				return;
			}
			if (n == 0) {
				p->eof_sent = 1;
				aglink_chan_eof(p->ch);
				return;
			}
			p->len = (size_t)n;
			p->off = 0;
		}
		if ((w = aglink_chan_write(
			 p->ch, p->buf + p->off, p->len - p->off)) == 0)
			return; /* on_writable goes on */
		p->off += w;
	}
}

static void
prestart_on_data(void *arg, int stream, const unsigned char *buf, size_t n)
{
	struct prestart *p = arg;

	(void)stream;
	(void)buf;
	aglink_chan_consumed(p->ch, n);
}

static void
prestart_on_writable(void *arg)
{
	prestart_feed(arg);
}

static void
prestart_on_result(void *arg, const cJSON *res, const struct err *le)
{
	struct prestart *p = arg;
	const cJSON *it = cJSON_GetArrayItem(p->items, p->next - 1);
	const char *msg = json_str(res, "message"),
		   *path = json_str(it, "path");
	int copy_up = json_bool(it, "ifEmpty", 0);
	size_t n;

	p->ch = NULL;
	close(p->fd);
	p->fd = -1;
	if (le == NULL && json_int(res, "status", 0) < 400) {
		prestart_send_next(p);
		return;
	}
	if (msg == NULL)
		msg = le != NULL ? le->msg : "the agent refused the archive";
	/* "Could not find the file /x in container" gets the name, as
	 * Docker words it. */
	n = strlen(msg);
	err_set(&p->e,
	    le != NULL ? le->status : (int)json_int(res, "status", 500),
	    "%s %s: %s%s%s",
	    copy_up ? "copying the image's files into the new volume at" :
		      "unpacking the archive put before start into",
	    path != NULL ? path : "?", msg,
	    n >= 12 && strcmp(msg + n - 12, "in container") == 0 ? " " : "",
	    n >= 12 && strcmp(msg + n - 12, "in container") == 0 ?
		container_name(p->c) :
		"");
	prestart_fail(p);
}

static const struct aglink_chan_cbs prestart_cbs = { prestart_on_data, NULL,
	NULL, prestart_on_writable, prestart_on_result };

static void
prestart_send_next(struct prestart *p)
{
	const cJSON *it = cJSON_GetArrayItem(p->items, p->next);
	struct aglink *l;
	cJSON *req;

	if (it == NULL) {
		prestart_finish(p, NULL);
		return;
	}
	p->next++;
	if ((p->fd = open(json_str(it, "file"), O_RDONLY | O_CLOEXEC)) == -1) {
		err_set(&p->e, 500,
		    "the archive kept for %s is gone from the state "
		    "directory (%s: %s)",
		    json_str(it, "path"), json_str(it, "file"),
		    strerror(errno));
		prestart_fail(p);
		return;
	}
	if ((l = backend_agent_link(p->b, p->c, &p->e)) == NULL) {
		prestart_fail(p);
		return;
	}
	req = cJSON_CreateObject();
	json_add_str(req, "kind", "archive_put");
	json_add_str(req, "path", json_str(it, "path"));
	json_add_bool(req, "noOverwriteDirNonDir",
	    json_bool(it, "noOverwriteDirNonDir", 0));
	json_add_bool(req, "copyUIDGID", json_bool(it, "copyUIDGID", 0));
	if (json_bool(it, "ifEmpty", 0))
		json_add_bool(req, "ifEmpty", 1);
	p->len = p->off = 0;
	p->eof_sent = 0;
	p->ch = aglink_open(l, req, &prestart_cbs, p);
	cJSON_Delete(req);
	prestart_feed(p);
}

/* --- the copy-ups, from the image --------------------------------------- */

static void prestart_next_tree(struct prestart *p);

static void
prestart_tree_done(
    void *arg, const char *tar_path, const cJSON *stat, const struct err *e)
{
	struct prestart *p = arg;
	const cJSON *t = cJSON_GetArrayItem(p->targets, 0);
	cJSON *it;

	(void)stat;
	if (e != NULL) {
		err_set(&p->e, e->status,
		    "reading the image's files for the new volume at %s: %s",
		    t->valuestring, e->msg);
		prestart_fail(p);
		return;
	}
	if (tar_path != NULL) {
		it = cJSON_CreateObject();
		json_add_str(it, "path", t->valuestring);
		json_add_str(it, "file", tar_path);
		json_add_bool(it, "ifEmpty", 1);
		cJSON_AddItemToArray(p->tree_files, it);
	}
	cJSON_DeleteItemFromArray(p->targets, 0);
	prestart_next_tree(p);
}

/* One target at a time; then the copy-ups, then the puts. */
static void
prestart_next_tree(struct prestart *p)
{
	const cJSON *t = cJSON_GetArrayItem(p->targets, 0), *it;

	if (t != NULL) {
		backend_img_tree(p->b, p->c, t->valuestring,
		    BACKEND_TREE_CONTENTS, prestart_tree_done, p);
		return;
	}
	cJSON_ArrayForEach(
	    it, json_arr(container_private(p->c), BACKEND_PRIV_PRESTART)) {
		cJSON_AddItemToArray(p->tree_files, cJSON_Duplicate(it, 1));
	}
	p->items = p->tree_files;
	p->tree_files = NULL;
	prestart_send_next(p);
}

int
backend_prestart_deliver(
    struct backend *b, struct container *c, backend_done_fn done, void *arg)
{
	struct prestart *p;

	if (!backend_prestart_wanted(b, c)) {
		if (c->agent != NULL)
			c->agent->prestart = 0;
		return 0;
	}
	p = xcalloc(1, sizeof(*p));
	p->b = b;
	p->c = c;
	container_ref(c);
	p->done = done;
	p->arg = arg;
	p->fd = -1;
	p->targets = cJSON_CreateArray();
	p->tree_files = cJSON_CreateArray();
	backend_prestart_copy_ups(b, c, p->targets);
	backend_agent_get(b, c)->prestart = 1;
	prestart_next_tree(p);
	return 1;
}
