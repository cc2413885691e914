/* The Cloud Run backend's readers of cloud input
 * (backend-cloudrun/cloudrun_def.c, compiled in here): a task as
 * tasks.list answers it (lastAttemptResult: exit code, signal, status),
 * an execution name as the log filter reads it, and the job body built
 * from any container configuration (what executions.list's reconcile
 * matches against). */
#include "fuzz.h"

#include "../../backend-cloudrun/cloudrun_def.c" /* NOLINT(bugprone-suspicious-include): its static helpers */
#include "../../backend-cloudrun/cloudrun_volmap.c" /* NOLINT(bugprone-suspicious-include): the body's volumes */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text, *name;
	char *buf, *f, job_name[28];
	cJSON *o;
	const cJSON *it;
	struct cloudrun_def_in in;
	struct err e;

	fuzz_split(data, size, &buf, &text, &name);
	if ((f = cloudrun_def_log_filter(name)) != NULL)
		free(f);
	if ((o = cJSON_ParseWithLength(text, strlen(text))) != NULL) {
		(void)cloudrun_def_exit_code(o, 0);
		(void)cloudrun_def_exit_code(o, 1);
		cJSON_ArrayForEach(it, json_arr(o, "tasks")) {
			(void)cloudrun_def_exit_code(it, 0);
		}
		memset(&in, 0, sizeof(in));
		in.image = "us-central1-docker.pkg.dev/p/r/i@sha256:00";
		in.timeout_s = json_int(o, "timeout", 3600);
		in.instance = json_str(o, "instance");
		in.network = json_str(o, "network");
		in.vpc_connector = json_str(o, "connector");
		cJSON_Delete(cloudrun_def_job(&in, json_obj(o, "Config"),
		    json_obj(o, "HostConfig"), json_arr(o, "AgentEnv"),
		    json_arr(o, "Cmd"), job_name, &e));
		cJSON_Delete(o);
	}
	free(buf);
	return 0;
}
