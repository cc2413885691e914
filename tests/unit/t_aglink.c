/* aglink against a fake agent served from the same event loop: the
 * handshake, channels, flow control both ways, retries, link loss
 * (forward mode; the fixture is aglink_fx.h, the sealed reverse mode is
 * t_aglink_seal_rev.c). */
#include "aglink_fx.h"

/* --- tests -------------------------------------------------------------- */

static void
t_handshake(void **state)
{
	struct fx *f = *state;
	struct crec *r;
	struct smsg *m;
	cJSON *j;

	assert_false(aglink_is_up(f->l));
	assert_null(aglink_hello(f->l));
	assert_int_equal(f->accepts, 0); /* lazy */
	r = rec_open(f, "{\"kind\":\"exec\",\"cmd\":[\"ls\",\"-l\"]}");
	SPIN(f, 2000, srv_count(f, AGLINK_OPEN, 0) == 1);
	assert_true(aglink_is_up(f->l));
	assert_int_equal(f->hellos, 1);
	assert_non_null(
	    cJSON_GetObjectItemCaseSensitive(aglink_hello(f->l), "held"));
	assert_non_null(strstr(f->req, "GET " AGLINK_PATH " HTTP/1.1\r\n"));
	assert_non_null(strstr(f->req, "Authorization: Bearer " TOKEN "\r\n"));
	assert_non_null(strstr(f->req, "X-Sockerless-Container: " CID "\r\n"));
	assert_non_null(strstr(f->req, "Sec-WebSocket-Version: 13\r\n"));
	assert_non_null(
	    strstr(f->req, "Sec-WebSocket-Protocol: " AGLINK_PROTOCOL "\r\n"));
	m = srv_find(f, AGLINK_OPEN, 1);
	assert_non_null(m);
	j = cJSON_ParseWithLength((const char *)m->p, m->n);
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(j, "kind")->valuestring, "exec");
	assert_int_equal(
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "cmd")), 2);
	cJSON_Delete(j);
	/* An event on channel 0. */
	srv_send_str(f, AGLINK_EVENT, 0, 0, "{\"main\":{\"exitCode\":0}}");
	SPIN(f, 1000, f->events == 1);
	assert_int_equal(f->events, 1);
	assert_int_equal(r->results, 0);
	fx_free_link(f);
	assert_int_equal(r->results, 1);
	assert_int_equal(r->err.status, 503);
	rec_free(r);
}

static void
t_order(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"result\"}");

	SPIN(f, 2000, r->results == 1);
	assert_int_equal(r->results, 1);
	assert_string_equal(r->log, "M D1:out D2:err E1 E2 R");
	assert_false(r->has_err);
	assert_int_equal(
	    cJSON_GetObjectItemCaseSensitive(r->result, "exitCode")->valueint,
	    3);
	/* Ids increase; the link stays up for the next channel. */
	rec_free(r);
	r = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, r->results == 1);
	assert_non_null(srv_find(f, AGLINK_OPEN, 2));
	assert_int_equal(f->accepts, 1);
	rec_free(r);
}

static void
t_flow_in(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"flood\",\"size\":1048576}");
	size_t i;

	f->slow = r;
	SPIN(f, 20000, r->results == 1);
	assert_int_equal(r->results, 1);
	assert_false(r->has_err);
	assert_int_equal(r->len, MB);
	for (i = 0; i < r->len; i++)
		if (r->data[i] != (unsigned char)(i * 7))
			fail_msg("byte %zu differs", i);
	assert_true(f->flood_max_out <= AGLINK_WINDOW);
	assert_true(r->max_unconsumed <= AGLINK_WINDOW);
	/* At most one CREDIT per 8 KiB consumed. */
	assert_true(f->flood_credits >= 4);
	assert_true(f->flood_credits <= (int)(MB / 8192) + 2);
	assert_string_equal(r->log, "E1 R");
	f->slow = NULL;
	rec_free(r);
}

/* A receiver that keeps up: CREDITs batched by 32 KiB. */
static void
t_flow_in_fast(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"flood\",\"size\":1048576}");

	SPIN(f, 20000, r->results == 1);
	assert_int_equal(r->results, 1);
	assert_int_equal(r->len, MB);
	assert_true(f->flood_max_out <= AGLINK_WINDOW);
	assert_true(f->flood_credits >= 4);
	assert_true(f->flood_credits <= (int)(MB / (32 * 1024)) + 2);
	rec_free(r);
}

static void
t_flow_out(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"sink\"}");
	unsigned char *buf = xmalloc(300000), *got;
	size_t i, n, total = 0, off = 0;
	unsigned char credit[4];

	for (i = 0; i < 300000; i++)
		buf[i] = (unsigned char)(i * 13);
	/* Before the link is up: queued within the window. */
	assert_int_equal(aglink_chan_write(r->ch, buf, 300000), AGLINK_WINDOW);
	assert_int_equal(aglink_chan_write(r->ch, buf, 10), 0);
	aglink_chan_resize(r->ch, 40, 120);
	SPIN(f, 2000, srv_count(f, AGLINK_RESIZE, 1) == 1);
	for (i = 0; i < f->nmsgs; i++)
		if (f->msgs[i].type == AGLINK_DATA)
			total += f->msgs[i].n;
	assert_int_equal(total, AGLINK_WINDOW);
	assert_int_equal(r->writable, 0);
	aglink_put_u32(credit, 100000);
	srv_send(f, AGLINK_CREDIT, 0, 1, credit, 4);
	SPIN(f, 1000, r->writable == 1);
	assert_int_equal(r->writable, 1);
	n = aglink_chan_write(
	    r->ch, buf + AGLINK_WINDOW, 300000 - AGLINK_WINDOW);
	assert_int_equal(n, 300000 - AGLINK_WINDOW);
	aglink_chan_eof(r->ch);
	SPIN(f, 2000, srv_count(f, AGLINK_EOF, 1) == 1);
	/* The agent got every byte, in order, on stream 0. */
	got = xmalloc(300000);
	for (i = 0; i < f->nmsgs; i++) {
		struct smsg *m = &f->msgs[i];

		if (m->type == AGLINK_OPEN)
			assert_int_equal(off, 0); /* OPEN before DATA */
		if (m->type != AGLINK_DATA)
			continue;
		assert_int_equal(m->stream, AGLINK_STDIN);
		assert_true(off + m->n <= 300000);
		memcpy(got + off, m->p, m->n);
		off += m->n;
	}
	assert_int_equal(off, 300000);
	assert_memory_equal(got, buf, 300000);
	assert_int_equal(srv_find(f, AGLINK_EOF, 1)->stream, AGLINK_STDIN);
	assert_int_equal(srv_find(f, AGLINK_RESIZE, 1)->n, 4);
	assert_memory_equal(
	    srv_find(f, AGLINK_RESIZE, 1)->p, "\0\x28\0\x78", 4);
	free(got);
	free(buf);
	fx_free_link(f);
	rec_free(r);
}

/* A port with nothing listening: bound, so nobody else takes it. */
static int
closed_port(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Starts serving on fd, the bound port a link dials. */
static void
serve_on(struct fx *f, int fd)
{
	assert_int_equal(listen(fd, 16), 0);
	evutil_make_socket_nonblocking(fd);
	f->lis = evconnlistener_new(
	    f->base, srv_accept, f, LEV_OPT_CLOSE_ON_FREE, -1, fd);
}

/* The fixture's link replaced by one to a port where nothing listens
 * yet (serve_on starts serving it); returns that port's socket. */
static int
link_to_closed(struct fx *f, int connect_s)
{
	int port, fd = closed_port(&port);

	aglink_free(f->l);
	evconnlistener_free(f->lis);
	f->l = aglink_new(
	    f->base, "127.0.0.1", port, TOKEN, CID, connect_s, &cl_cbs, f);
	return fd;
}

static void
t_refused(void **state)
{
	struct fx *f = *state;
	struct crec *r;
	int port, fd = closed_port(&port);
	int64_t t0 = now_ms();
	char where[64];

	aglink_free(f->l);
	f->l =
	    aglink_new(f->base, "127.0.0.1", port, TOKEN, CID, 1, &cl_cbs, f);
	r = rec_open(f, "{\"kind\":\"start\"}");
	SPIN(f, 50, 0);
	assert_int_equal(r->results, 0); /* still retrying */
	SPIN(f, 3000, r->results == 1);
	assert_int_equal(r->results, 1);
	assert_true(now_ms() - t0 >= 900);
	assert_true(r->has_err);
	assert_int_equal(r->err.status, 502);
	snprintf(where, sizeof(where), "at 127.0.0.1:%d", port);
	assert_non_null(strstr(r->err.msg, where));
	assert_non_null(strstr(r->err.msg, "connection refused"));
	assert_non_null(strstr(r->err.msg, "3f2a9c0d1e2b"));
	assert_int_equal(f->downs, 1);
	assert_false(aglink_is_up(f->l));
	close(fd);
	rec_free(r);
}

static void
t_refused_then_listens(void **state)
{
	struct fx *f = *state;
	struct crec *r;
	int fd = link_to_closed(f, 3);
	int64_t t0 = now_ms();

	r = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 600, 0);
	assert_int_equal(r->results, 0);
	serve_on(f, fd);
	SPIN(f, 3000, r->results == 1);
	assert_int_equal(r->results, 1);
	assert_false(r->has_err);
	assert_true(now_ms() - t0 >= 600);
	assert_int_equal(f->accepts, 1);
	assert_int_equal(f->downs, 0);
	rec_free(r);
}

/* aglink_up_eager: refused dials are tried again every few ms, so the
 * link is up long before the usual back-off's next dial (250 ms after the
 * first refusal, 750 ms after the second). */
static void
t_eager(void **state)
{
	struct fx *f = *state;
	int fd = link_to_closed(f, 5);
	int64_t t0 = now_ms();

	aglink_up_eager(f->l);
	SPIN(f, 300, 0);
	assert_int_equal(f->hellos, 0);
	serve_on(f, fd);
	SPIN(f, 3000, f->hellos == 1);
	assert_int_equal(f->hellos, 1);
	assert_true(now_ms() - t0 < 750);
	assert_int_equal(f->accepts, 1);
	assert_int_equal(f->downs, 0);
}

/* aglink_redial: a link waiting out its back-off dials at once. */
static void
t_redial(void **state)
{
	struct fx *f = *state;
	int fd = link_to_closed(f, 5);
	int64_t t0 = now_ms();

	aglink_up(f->l);
	SPIN(f, 300, 0); /* refused at 0 and 250 ms; next at 750 */
	serve_on(f, fd);
	aglink_redial(f->l);
	SPIN(f, 3000, f->hellos == 1);
	assert_int_equal(f->hellos, 1);
	assert_true(now_ms() - t0 < 750);
	/* Up: nothing to redial. */
	aglink_redial(f->l);
	SPIN(f, 50, 0);
	assert_int_equal(f->accepts, 1);
	assert_true(aglink_is_up(f->l));
}

static void
t_unauthorized(void **state)
{
	struct fx *f = *state;
	struct crec *r;

	f->mode_401 = 1;
	r = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, r->results == 1);
	assert_int_equal(r->results, 1);
	assert_true(r->has_err);
	assert_int_equal(r->err.status, 502);
	assert_non_null(strstr(r->err.msg, "refused the link token"));
	assert_int_equal(f->accepts, 1); /* no retry for a refusal */
	assert_int_equal(f->hellos, 0);
	rec_free(r);
}

static void
t_server_closes(void **state)
{
	struct fx *f = *state;
	struct crec *a = rec_open(f, "{\"kind\":\"sink\"}"), *b;

	SPIN(f, 2000, srv_count(f, AGLINK_OPEN, 0) == 1);
	srv_send_str(f, AGLINK_DATA, AGLINK_STDOUT, 1, "part");
	SPIN(f, 1000, a->len == 4);
	srv_close(f);
	SPIN(f, 2000, f->downs == 1);
	assert_int_equal(a->results, 1);
	assert_true(a->has_err);
	assert_non_null(strstr(a->err.msg, "was lost"));
	assert_string_equal(a->log, "D1:part R");
	assert_true(a->seq < f->down_seq); /* channels first, then on_down */
	assert_false(aglink_is_up(f->l));
	/* The next open dials again. */
	b = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, b->results == 1);
	assert_false(b->has_err);
	assert_int_equal(f->accepts, 2);
	assert_int_equal(f->hellos, 2);
	assert_int_equal(
	    cJSON_GetObjectItemCaseSensitive(aglink_hello(f->l), "conn")
		->valueint,
	    2);
	rec_free(a);
	rec_free(b);
}

static void
t_fragments_and_pings(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"sink\"}");
	unsigned char m[AGLINK_HEADER + 12];

	SPIN(f, 2000, srv_count(f, AGLINK_OPEN, 0) == 1);
	srv_frame(f, 1, WS_PING, "abc", 3);
	SPIN(f, 1000, f->pongs == 1);
	assert_string_equal(f->pong, "abc");
	aglink_put_header(m, AGLINK_DATA, AGLINK_STDOUT, 1);
	memcpy(m + AGLINK_HEADER, "hello world!", 12);
	srv_frame(f, 0, WS_BINARY, m, 5);
	srv_frame(f, 0, WS_CONT, m + 5, 6);
	srv_frame(f, 1, WS_PING, "xy", 2);
	srv_frame(f, 1, WS_CONT, m + 11, sizeof(m) - 11);
	SPIN(f, 1000, r->len == 12 && f->pongs == 2);
	assert_int_equal(r->len, 12);
	assert_memory_equal(r->data, "hello world!", 12);
	assert_int_equal(f->pongs, 2);
	assert_string_equal(f->pong, "xy");
	assert_true(aglink_is_up(f->l));
	fx_free_link(f);
	rec_free(r);
}

static void
t_chan_close(void **state)
{
	struct fx *f = *state;
	struct crec *a = rec_open(f, "{\"kind\":\"sink\"}"), *b;

	SPIN(f, 2000, srv_count(f, AGLINK_OPEN, 0) == 1);
	aglink_chan_close(a->ch);
	SPIN(f, 1000, srv_count(f, AGLINK_CLOSE, 1) == 1);
	assert_int_equal(srv_count(f, AGLINK_CLOSE, 1), 1);
	/* Racing messages for the closed channel are dropped. */
	srv_send_str(f, AGLINK_DATA, AGLINK_STDOUT, 1, "late");
	srv_send_str(f, AGLINK_RESULT, 0, 1, "{}");
	b = rec_open(f, "{\"kind\":\"result\"}");
	SPIN(f, 2000, b->results == 1);
	assert_int_equal(b->results, 1);
	assert_non_null(srv_find(f, AGLINK_OPEN, 2));
	assert_int_equal(a->results, 0);
	assert_int_equal(a->len, 0);
	/* Closing before the OPEN went sends nothing. */
	aglink_free(f->l);
	f->l = aglink_new(
	    f->base, "127.0.0.1", f->port, TOKEN, CID, 5, &cl_cbs, f);
	rec_free(a);
	a = rec_open(f, "{\"kind\":\"sink\"}");
	aglink_chan_close(a->ch);
	SPIN(f, 2000, aglink_is_up(f->l));
	SPIN(f, 50, 0);
	assert_int_equal(srv_count(f, AGLINK_OPEN, 0), 2);
	assert_int_equal(a->results, 0);
	rec_free(a);
	rec_free(b);
}

static void
t_free_with_open(void **state)
{
	struct fx *f = *state;
	struct crec *a = rec_open(f, "{\"kind\":\"sink\"}");
	struct crec *b = rec_open(f, "{\"kind\":\"sink\"}");
	struct crec *c;

	b->close_in_result = 1;
	SPIN(f, 2000, srv_count(f, AGLINK_OPEN, 0) == 2);
	aglink_free(f->l);
	f->l = NULL;
	assert_int_equal(a->results, 1);
	assert_int_equal(b->results, 1);
	assert_true(a->has_err && b->has_err);
	assert_non_null(strstr(a->err.msg, "3f2a9c0d1e2b"));
	assert_int_equal(f->downs, 0); /* no link callbacks from free */
	SPIN(f, 1000, f->closes == 1); /* a close frame went out */
	assert_int_equal(f->closes, 1);
	/* Freed before it ever connected. */
	f->l = aglink_new(
	    f->base, "127.0.0.1", f->port, TOKEN, CID, 5, &cl_cbs, f);
	c = rec_open(f, "{\"kind\":\"sink\"}");
	aglink_chan_write(c->ch, "x", 1);
	aglink_free(f->l);
	f->l = NULL;
	assert_int_equal(c->results, 1);
	assert_true(c->has_err);
	rec_free(a);
	rec_free(b);
	rec_free(c);
}

static void
t_free_in_callback(void **state)
{
	struct fx *f = *state;
	struct crec *a = rec_open(f, "{\"kind\":\"result\"}");
	struct crec *b = rec_open(f, "{\"kind\":\"sink\"}");

	a->free_link_in_data = 1;
	SPIN(f, 2000, f->l == NULL);
	assert_null(f->l);
	assert_int_equal(a->results, 1); /* from inside its own on_data */
	assert_true(a->has_err);
	assert_int_equal(b->results, 1);
	assert_string_equal(a->log, "M D1:out R");
	SPIN(f, 50, 0);
	rec_free(a);
	rec_free(b);
}

static void
t_keepalive(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"sink\"}");

	SPIN(f, 2000, aglink_is_up(f->l));
	aglink_set_keepalive(f->l, 50, 200);
	SPIN(f, 400, 0);
	assert_true(aglink_is_up(f->l)); /* pongs keep it up */
	assert_true(f->pings >= 3);
	f->mute = 1;
	SPIN(f, 1000, f->downs == 1);
	assert_int_equal(f->downs, 1);
	assert_int_equal(f->down_err.status, 504);
	assert_non_null(strstr(f->down_err.msg, "no answer from the agent"));
	assert_int_equal(r->results, 1);
	assert_true(r->has_err);
	rec_free(r);
}

static void
t_protocol_errors(void **state)
{
	struct fx *f = *state;
	struct crec *r = rec_open(f, "{\"kind\":\"overrun\"}");
	unsigned char h[14];
	size_t hl;

	r->hold = 1;
	SPIN(f, 2000, f->downs == 1);
	assert_int_equal(r->results, 1);
	assert_non_null(strstr(r->err.msg, "overran the window"));
	rec_free(r);
	/* A message over AGLINK_MAX_MESSAGE. */
	r = rec_open(f, "{\"kind\":\"sink\"}");
	SPIN(f, 2000, aglink_is_up(f->l));
	hl = ws_build_header(h, WS_BINARY, AGLINK_MAX_MESSAGE + 1, NULL);
	bufferevent_write(f->conn, h, hl);
	SPIN(f, 2000, f->downs == 2);
	assert_int_equal(r->results, 1);
	assert_non_null(strstr(r->err.msg, "over"));
	rec_free(r);
}

static void
t_token(void **state)
{
	char hex[AGLINK_TOKEN_HEX + 1], sha[AGLINK_TOKEN_HEX + 1];
	char hex2[AGLINK_TOKEN_HEX + 1];

	(void)state;
	assert_int_equal(aglink_token_new(hex, sha), 0);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(strlen(sha), 64);
	assert_true(aglink_token_check(hex, sha));
	assert_int_equal(aglink_token_new(hex2, sha), 0);
	assert_string_not_equal(hex, hex2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(t_order, setup, teardown),
		cmocka_unit_test_setup_teardown(t_flow_in, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_flow_in_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(t_flow_out, setup, teardown),
		cmocka_unit_test_setup_teardown(t_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_refused_then_listens, setup, teardown),
		cmocka_unit_test_setup_teardown(t_eager, setup, teardown),
		cmocka_unit_test_setup_teardown(t_redial, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_unauthorized, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_server_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_fragments_and_pings, setup, teardown),
		cmocka_unit_test_setup_teardown(t_chan_close, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_free_with_open, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_free_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(t_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_protocol_errors, setup, teardown),
		cmocka_unit_test(t_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
