/* aglink in reverse mode: a fake agent dialling the aglink_listener over
 * the sealed link (its handshake, queued channels, the connect timeout,
 * replacement, replays, tampering). The fixture is aglink_fx.h. */
#include "aglink_fx.h"

/* --- reverse mode --------------------------------------------------------- */

static void
t_rev_up(void **state)
{
	struct fx *f = *state;
	struct crec *r;

	assert_false(aglink_is_up(f->l));
	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->hellos == 1);
	assert_int_equal(f->rev_status, 101);
	/* At the request, and again when the first sealed message opened. */
	assert_int_equal(f->lookups, 2);
	assert_true(aglink_is_up(f->l));
	r = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, r->results == 1);
	assert_false(r->has_err);
	assert_string_equal(r->log, "M D1:out D2:err E1 E2 R");
	assert_int_equal(
	    cJSON_GetObjectItemCaseSensitive(r->result, "exitCode")->valueint,
	    3);
	/* Pings both ways: the backend's pong is unmasked (srv_read). */
	srv_frame(f, 1, WS_PING, "abc", 3);
	SPIN(f, 1000, f->pongs == 1);
	assert_string_equal(f->pong, "abc");
	/* An unmasked frame from the agent is a protocol error. */
	f->rev = 0;
	srv_send_str(f, AGLINK_EVENT, 0, 0, "{\"main\":{}}");
	f->rev = 1;
	SPIN(f, 1000, f->downs == 1);
	assert_int_equal(f->downs, 1);
	assert_int_equal(f->events, 0);
	assert_non_null(strstr(f->down_err.msg, "malformed WebSocket frame"));
	assert_false(aglink_is_up(f->l));
	rec_free(r);
}

static void
t_rev_unauthorized(void **state)
{
	struct fx *f = *state;
	char bad[AGLINK_TOKEN_HEX + 1];

	memcpy(bad, TOKEN, sizeof(bad));
	bad[5] = bad[5] == 'f' ? 'e' : 'f';
	agent_dial(f, bad, CID);
	SPIN(f, 2000, f->rev_status != 0);
	assert_int_equal(f->rev_status, 401);
	srv_close(f);
	memcpy(bad, CID, sizeof(bad));
	bad[0] = bad[0] == 'f' ? 'e' : 'f';
	agent_dial(f, TOKEN, bad);
	SPIN(f, 2000, f->rev_status != 0);
	assert_int_equal(f->rev_status, 401);
	srv_close(f);
	agent_dial(f, "", CID);
	SPIN(f, 2000, f->rev_status != 0);
	assert_int_equal(f->rev_status, 401);
	srv_close(f);
	assert_int_equal(f->lookups, 2); /* no token: no lookup */
	assert_int_equal(f->hellos, 0);
	assert_false(aglink_is_up(f->l));
}

static void
t_rev_queued(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"result\"}");

	SPIN(f, 200, 0);
	assert_int_equal(r->results, 0);
	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, r->results == 1);
	assert_false(r->has_err);
	assert_string_equal(r->log, "M D1:out D2:err E1 E2 R");
	assert_int_equal(f->hellos, 1);
	rec_free(r);
}

static void
t_rev_timeout(void **state)
{
	struct fx *f = *state;
	struct crec *r;
	int64_t t0;

	aglink_free(f->l);
	f->l = aglink_new_reverse(f->base, CID, TOKEN, 1, &cl_cbs, f);
	t0 = now_ms();
	r = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 3000, r->results == 1);
	assert_int_equal(r->results, 1);
	assert_true(now_ms() - t0 >= 900);
	assert_true(r->has_err);
	assert_int_equal(r->err.status, 504);
	assert_non_null(strstr(r->err.msg, "has not called back within 1s"));
	assert_non_null(strstr(r->err.msg, "callback URL reachable"));
	assert_int_equal(f->downs, 1);
	rec_free(r);
	/* It can still come later. */
	agent_dial(f, TOKEN, CID);
	r = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, r->results == 1);
	assert_false(r->has_err);
	rec_free(r);
}

static void
t_rev_replace(void **state)
{
	struct fx *f = *state;
	struct crec *a, *b;

	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->hellos == 1);
	a = rec_open(f, "{\"kind\":\"sink\"}");
	SPIN(f, 2000, srv_count(f, AGLINK_OPEN, 0) == 1);
	agent_stash(f);
	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->hellos == 2 && a->results == 1 && f->old == NULL);
	assert_int_equal(a->results, 1);
	assert_true(a->has_err);
	assert_non_null(strstr(a->err.msg, "replaced"));
	assert_int_equal(f->downs, 1);
	assert_null(f->old); /* the backend closed it */
	assert_int_equal(f->old_closes, 1);
	assert_true(aglink_is_up(f->l));
	assert_int_equal(
	    cJSON_GetObjectItemCaseSensitive(aglink_hello(f->l), "conn")
		->valueint,
	    2);
	b = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, b->results == 1);
	assert_false(b->has_err);
	assert_string_equal(b->log, "M D1:out D2:err E1 E2 R");
	rec_free(a);
	rec_free(b);
}

/* A replayed callback (the request and the first sealed message an
 * eavesdropper recorded) gets a 101 with a fresh nonce, but its message
 * cannot open under the new session: it is dropped and the real agent's
 * link stays. A wrong MAC gets 401. */
static void
t_rev_replay(void **state)
{
	struct fx *f = *state;
	struct crec *r;

	f->bad_mac = 1;
	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->rev_status != 0);
	assert_int_equal(f->rev_status, 401);
	srv_close(f);
	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->hellos == 1);
	assert_null(strstr(f->sent_req, TOKEN)); /* the token never goes */
	assert_true(f->first_len > AGLINK_SEAL_TAG);
	spy_replay(f);
	SPIN(f, 2000, f->spy_closed);
	assert_int_equal(f->spy_status, 101);
	assert_true(f->spy_closed);
	assert_int_equal(f->downs, 0);
	assert_int_equal(f->hellos, 1);
	assert_true(aglink_is_up(f->l));
	r = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, r->results == 1);
	assert_false(r->has_err);
	assert_string_equal(r->log, "M D1:out D2:err E1 E2 R");
	rec_free(r);
}

/* A newer connection whose first message does not open replaces
 * nothing; a forged message on the adopted link ends it. */
static void
t_rev_tampered(void **state)
{
	struct fx *f = *state;
	struct crec *a;

	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->hellos == 1);
	a = rec_open(f, "{\"kind\":\"sink\"}");
	SPIN(f, 2000, srv_count(f, AGLINK_OPEN, 0) == 1);
	agent_stash(f);
	f->tamper_next = 1; /* the new connection's HELLO */
	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->conn == NULL);
	assert_null(f->conn); /* the listener dropped it */
	assert_int_equal(f->hellos, 1);
	assert_int_equal(a->results, 0);
	assert_int_equal(f->downs, 0);
	assert_non_null(f->old);
	assert_true(aglink_is_up(f->l));
	/* The agent dials again properly: that one replaces the old. */
	agent_dial(f, TOKEN, CID);
	SPIN(f, 2000, f->hellos == 2 && a->results == 1);
	assert_non_null(strstr(a->err.msg, "replaced"));
	/* A forged EVENT on the adopted link: the link ends. */
	f->tamper_next = 1;
	srv_send_str(f, AGLINK_EVENT, 0, 0, "{\"main\":{}}");
	SPIN(f, 2000, f->downs == 2);
	assert_int_equal(f->events, 0);
	assert_non_null(strstr(f->down_err.msg, "did not open"));
	assert_false(aglink_is_up(f->l));
	rec_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_rev_up, setup_rev, teardown),
		cmocka_unit_test_setup_teardown(
		    t_rev_unauthorized, setup_rev, teardown),
		cmocka_unit_test_setup_teardown(
		    t_rev_queued, setup_rev, teardown),
		cmocka_unit_test_setup_teardown(
		    t_rev_timeout, setup_rev, teardown),
		cmocka_unit_test_setup_teardown(
		    t_rev_replace, setup_rev, teardown),
		cmocka_unit_test_setup_teardown(
		    t_rev_replay, setup_rev, teardown),
		cmocka_unit_test_setup_teardown(
		    t_rev_tampered, setup_rev, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
