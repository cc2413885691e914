/* What a workload needs to run the agent: its environment (the link's
 * token, the held command, the console size), the command the agent wraps,
 * and whether the agent runs a health check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_agent.h"
#include "backend_net.h"
#include "backend_prestart.h"
#include "sockerless/id.h"
#include "sockerless/json.h"
#include "sockerless/log.h"
#include "sockerless/xmalloc.h"

#define AGENT_HOLD_S 60
/* Files to copy in first (archive_max, and the image's files for new
 * volumes) may take longer than an attach to open. */
#define AGENT_HOLD_PRESTART_S 300

/* --- environment -------------------------------------------------------- */

static void
agent_env_add(cJSON *env, const char *k, const char *v)
{
	char *s = xasprintf("%s=%s", k, v);

	cJSON_AddItemToArray(env, cJSON_CreateString(s));
	free(s);
}

/* HostConfig.ConsoleSize ([rows, cols], API 1.42): the terminal's size
 * before the command starts. The CLI's resize comes only after start
 * returns, which a held command (attach before start) can outrun. Per run
 * (a terminal's size is the client's), so the task definition stays
 * shareable. */
static void
agent_env_console_size(cJSON *env, const struct container *c)
{
	const cJSON *cs = json_arr(container_host_config(c), "ConsoleSize");
	double rows, cols;
	char n[32];

	if (cJSON_GetArraySize(cs) != 2 ||
	    !cJSON_IsNumber(cJSON_GetArrayItem(cs, 0)) ||
	    !cJSON_IsNumber(cJSON_GetArrayItem(cs, 1)))
		return;
	rows = cJSON_GetArrayItem(cs, 0)->valuedouble;
	cols = cJSON_GetArrayItem(cs, 1)->valuedouble;
	if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535)
		return;
	snprintf(n, sizeof(n), "%u %u", (unsigned)rows, (unsigned)cols);
	agent_env_add(env, "SOCKERLESS_TTY_SIZE", n);
}

/* SOCKERLESS_TMPFS: the mode of each tmpfs mount ({"/t": 1023}), which
 * the agent applies where the cloud's task storage has its own (ECS:
 * 0755); Docker's tmpfs is 01777 unless mode= says otherwise. */
static void
agent_env_tmpfs(struct backend *b, struct container *c, cJSON *env)
{
	struct backend_mount m[BACKEND_MOUNTS_MAX];
	size_t n = backend_container_mounts(b, c, m, BACKEND_MOUNTS_MAX);
	cJSON *modes = cJSON_CreateObject();
	char *j;

	for (size_t i = 0; i < n; i++)
		if (m[i].kind == BACKEND_MOUNT_TMPFS)
			json_set(modes, m[i].target,
			    cJSON_CreateNumber(m[i].tmpfs_mode != 0 ?
				    m[i].tmpfs_mode :
				    01777));
	if (cJSON_GetArraySize(modes) > 0) {
		j = json_print(modes);
		agent_env_add(env, "SOCKERLESS_TMPFS", j);
		free(j);
	}
	cJSON_Delete(modes);
}

/* Whether the container's own environment (docker run -e) names k. */
static int
agent_env_user_sets(const struct container *c, const char *k)
{
	size_t n = strlen(k);
	const cJSON *it;

	cJSON_ArrayForEach(it, json_arr(container_config(c), "Env")) {
		if (cJSON_IsString(it) && strncmp(it->valuestring, k, n) == 0 &&
		    it->valuestring[n] == '=')
			return 1;
	}
	return 0;
}

cJSON *
backend_agent_run_env(struct backend *b, struct container *c, struct err *e)
{
	struct backend_agent *ag = backend_agent_get(b, c);
	char tok[AGLINK_TOKEN_HEX + 1], sha[AGLINK_TOKEN_HEX + 1], n[24];
	cJSON *env;

	if (aglink_token_new(tok, sha) == -1) {
		err_set(e, 500, "no random bytes for the agent token");
		return NULL;
	}
	/* A new run, a new token: links to the previous run are over, and
	 * so are its agent's hello and exit report (the new run's agent may
	 * call back before the cloud answers the start: the marks go now,
	 * not when the answer comes). */
	json_set(container_private(c), BACKEND_PRIV_AGENT_TOKEN,
	    cJSON_CreateString(tok));
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), BACKEND_P_AGENT_HELLO);
	cJSON_DeleteItemFromObjectCaseSensitive(
	    container_private(c), BACKEND_P_AGENT_EXIT);
	backend_container_save(b, c);
	backend_agent_link_close(ag);
	env = cJSON_CreateArray();
	if (b->ops->agent_reverse)
		backend_agent_rev_run_env(b, c, tok, env);
	else
		agent_env_add(env, "SOCKERLESS_AGENT_TOKEN_SHA256", sha);
	agent_env_add(env, "SOCKERLESS_CONTAINER_ID", c->id);
	if (json_bool(container_config(c), "Tty", 0))
		agent_env_console_size(env, c);
	/* Files to copy in first: the agent's start waits for them even if
	 * the backend reports the workload running before the start ends. */
	ag->prestart = backend_prestart_wanted(b, c);
	ag->hold = !TAILQ_EMPTY(&ag->waiting) || ag->prestart;
	if (ag->hold) {
		snprintf(n, sizeof(n), "%d",
		    ag->prestart ? AGENT_HOLD_PRESTART_S : AGENT_HOLD_S);
		agent_env_add(env, "SOCKERLESS_HOLD", n);
	}
	/* The spool's size: the operator's agent_log_spool, unless the
	 * container sets its own (a run's environment would override the
	 * user's). */
	if (!agent_env_user_sets(c, "SOCKERLESS_LOG_SPOOL")) {
		snprintf(n, sizeof(n), "%lld", b->conf.agent_log_spool);
		agent_env_add(env, "SOCKERLESS_LOG_SPOOL", n);
	}
	backend_net_run_env(b, c, env);
	backend_docksock_env(b, c, env);
	agent_env_tmpfs(b, c, env);
	return env;
}

cJSON *
backend_agent_config_env(const struct container *c)
{
	const cJSON *cfg = container_config(c), *hc;
	cJSON *env = cJSON_CreateArray();
	const char *s;

	if (json_bool(cfg, "Tty", 0))
		agent_env_add(env, "SOCKERLESS_TTY", "1");
	if (json_bool(cfg, "OpenStdin", 0)) {
		agent_env_add(env, "SOCKERLESS_STDIN", "1");
		if (json_bool(cfg, "StdinOnce", 0))
			agent_env_add(env, "SOCKERLESS_STDIN_ONCE", "1");
	}
	hc = json_obj(cfg, "Healthcheck");
	if (backend_agent_has_health(c)) {
		char *j = json_print(hc);
		agent_env_add(env, "SOCKERLESS_HEALTHCHECK", j);
		free(j);
	}
	if ((s = json_str(cfg, "StopSignal")) != NULL && s[0] != '\0')
		agent_env_add(env, "SOCKERLESS_STOP_SIGNAL", s);
	/* Config.User already holds the image's User when the container's
	 * was empty (backend_ctr_new.c merges it at create). The agent runs
	 * as root for its own work and starts the main process as this. */
	if ((s = json_str(cfg, "User")) != NULL && s[0] != '\0')
		agent_env_add(env, "SOCKERLESS_USER", s);
	return env;
}

cJSON *
backend_agent_command(const struct container *c)
{
	const cJSON *cfg = container_config(c), *it;
	const cJSON *parts[2] = { json_arr(cfg, "Entrypoint"),
		json_arr(cfg, "Cmd") };
	cJSON *argv = cJSON_CreateArray();

	for (int i = 0; i < 2; i++)
		cJSON_ArrayForEach(it, parts[i]) {
			if (cJSON_IsString(it))
				cJSON_AddItemToArray(
				    argv, cJSON_CreateString(it->valuestring));
		}
	return argv;
}

int
backend_agent_has_health(const struct container *c)
{
	const cJSON *test =
	    json_arr(json_obj(container_config(c), "Healthcheck"), "Test");
	const cJSON *first = cJSON_GetArrayItem(test, 0);

	return first != NULL && cJSON_IsString(first) &&
	    strcmp(first->valuestring, "NONE") != 0 &&
	    cJSON_GetArraySize(test) >
	    (strcmp(first->valuestring, "CMD") == 0 ||
			strcmp(first->valuestring, "CMD-SHELL") == 0 ?
		    1 :
		    0);
}
