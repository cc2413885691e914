/* The capability model: wire round trip and the exact 501 sentence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/caps.h"
#include "sockerless/json.h"
#include "sockerless/str.h"

static void
t_roundtrip(void **state)
{
	struct caps a, b;
	struct err e;
	cJSON *o;

	(void)state;
	memset(&a, 0, sizeof(a));
	strcpy(a.backend, "ecs");
	strcpy(a.version, "0.1.0");
	strcpy(a.instance, "ecs/0.1.0/abc");
	a.flag[CAP_LOGS] = 1;
	a.flag[CAP_LOGS_FOLLOW] = 1;
	a.max_timeout_seconds = 900;
	o = caps_to_json(&a);
	assert_int_equal(caps_from_json(o, &b, &e), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	cJSON_Delete(o);
}

/* A backend's own reason travels as "reasons" and is the 501's second
 * sentence; flags without one keep the agreed hint. */
static void
t_why(void **state)
{
	struct caps a, b;
	struct err e;
	cJSON *o;

	(void)state;
	memset(&a, 0, sizeof(a));
	str_lcpy(a.backend, "ecs", sizeof(a.backend));
	str_lcpy(a.why[CAP_VOLUMES], "Set ecs.efs_filesystem_id.",
	    sizeof(a.why[CAP_VOLUMES]));
	o = caps_to_json(&a);
	assert_string_equal(json_str(json_obj(o, "reasons"), "volumes"),
	    "Set ecs.efs_filesystem_id.");
	assert_null(json_str(json_obj(o, "reasons"), "exec"));
	assert_int_equal(caps_from_json(o, &b, &e), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	cJSON_Delete(o);
	assert_int_equal(caps_unsupported(&b, CAP_VOLUMES, &e), -1);
	assert_int_equal(e.status, 501);
	assert_string_equal(e.msg,
	    "This backend (ecs) does not support volumes. Set "
	    "ecs.efs_filesystem_id.");
	/* No reasons at all: no member. */
	memset(&a, 0, sizeof(a));
	o = caps_to_json(&a);
	assert_null(json_obj(o, "reasons"));
	cJSON_Delete(o);
}

static void
t_lambda_exec_sentence(void **state)
{
	struct caps c;
	struct err e;

	(void)state;
	memset(&c, 0, sizeof(c));
	strcpy(c.backend, "lambda");
	assert_int_equal(caps_unsupported(&c, CAP_EXEC, &e), -1);
	assert_int_equal(e.status, 501);
	assert_string_equal(e.msg,
	    "This backend (lambda) does not support "
	    "exec. CI runners require exec-capable "
	    "backends (ecs, cloudrun, aca, docker).");
}

static void
t_names(void **state)
{
	(void)state;
	for (int i = 0; i < CAP__COUNT; i++)
		assert_int_equal(caps_by_name(caps_name((enum caps_flag)i)), i);
	assert_int_equal(caps_by_name("teleport"), -1);
}

static void
t_malformed(void **state)
{
	struct caps c;
	struct err e;
	cJSON *o = cJSON_Parse("{\"backend\":1}");

	(void)state;
	assert_int_equal(caps_from_json(o, &c, &e), -1);
	assert_int_equal(e.status, 502);
	cJSON_Delete(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_roundtrip),
		cmocka_unit_test(t_why),
		cmocka_unit_test(t_lambda_exec_sentence),
		cmocka_unit_test(t_names),
		cmocka_unit_test(t_malformed),
	};

	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
