/* After a restart, a run that was in flight cannot be read back: its
 * answer went to the process that sent it, and Azure keeps no result of
 * an HTTP request. The container exits 125 with a sentence saying so and
 * where the run's output is; its site stays out of the pool until the
 * run's time limit has passed (it may still be running it). Docker shows
 * "Exited (125)" and that sentence as the container's error. */
#include <stdio.h>
#include <stdlib.h>

#include "azfunc.h"
#include "sockerless/container.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* The answer may come this long after the run's own limit. */
#define AZFUNC_REC_GRACE_S 60

static void
azfunc_rec_one(struct backend *b, struct container *c, void *arg)
{
	const char *slot;
	char *why;

	(void)arg;
	if (!container_running(c) || c->backend_data != NULL)
		return;
	slot = json_str(container_private(c), KIT_FAAS_P_SLOT);
	if (slot == NULL) {
		backend_container_exited(b, c, 125, str_now_ns(),
		    "the backend restarted before the run was sent");
		return;
	}
	kit_pool_quiet(slot, azfunc_conf.timeout + AZFUNC_REC_GRACE_S);
	why = xasprintf("the backend restarted during the run on function app "
			"%s; its exit status is unknown (the answer went to "
			"the previous process), its output is in the "
			"function app's logs",
	    slot);
	log_warnx("container %.12s: %s", c->id, why);
	backend_container_exited(b, c, 125, str_now_ns(), why);
	free(why);
}

void
azfunc_rec_start(struct backend *b)
{
	backend_container_foreach(b, azfunc_rec_one, NULL);
}
