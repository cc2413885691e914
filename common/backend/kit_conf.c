/* Configuration-key fragments: tables shared by backends whose key names
 * get the backend's prefix (struct backend_ops.config_fragments), and the
 * kit's own fragment, the orphan policy. A leaf: the framework's start-up
 * calls it, it calls nothing of the framework. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/backend_kit.h"
#include "sockerless/kit_faas.h"
#include "sockerless/xmalloc.h"

const struct config_key kit_orphans_keys[KIT_ORPHANS_NKEYS] = {
	{ "orphans", CONFIG_STRING, offsetof(struct kit_orphans, orphans),
	    "report", 0, 0, 0,
	    "Workloads of this backend instance unknown to its state: report "
	    "or stop" },
};

const struct config_key kit_pool_keys[KIT_POOL_NKEYS] = {
	{ "pool_max", CONFIG_INT, offsetof(struct kit_pool_limits, pool_max),
	    "4", 1, 100, 0,
	    "Most functions the pool holds (runs at the same time)" },
	{ "pool_idle", CONFIG_INT, offsetof(struct kit_pool_limits, pool_idle),
	    "900", 10, 86400, 0,
	    "Seconds an idle pool function is kept before it is deleted" },
	{ "pool_wait", CONFIG_INT, offsetof(struct kit_pool_limits, pool_wait),
	    "60", 0, 3600, 0,
	    "Seconds a start waits for a free function of a full pool before "
	    "it answers 503" },
};

int
kit_orphans_stop(const struct kit_orphans *o)
{
	return o->orphans != NULL && strcmp(o->orphans, "stop") == 0;
}

struct config_key *
kit_conf_prefix(const struct config_key *keys, size_t n, const char *prefix)
{
	struct config_key *out = xcalloc(n > 0 ? n : 1, sizeof(*out));

	for (size_t i = 0; i < n; i++) {
		out[i] = keys[i];
		out[i].name = xasprintf("%s.%s", prefix, keys[i].name);
	}
	return out;
}

void
kit_conf_unprefix(struct config_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)keys[i].name);
	free(keys);
}
