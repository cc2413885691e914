/* Docker's multiplexed stream framing: headers, framing, and incremental
 * demultiplexing across arbitrary splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sockerless/buf.h"
#include "sockerless/stdstream.h"

struct collected {
	struct buf out, err;
};

static void
collect(enum stdstream_kind kind, const void *p, size_t len, void *arg)
{
	struct collected *c = arg;

	buf_add(kind == STDSTREAM_STDERR ? &c->err : &c->out, p, len);
}

static void
t_header_layout(void **state)
{
	unsigned char h[8];

	(void)state;
	stdstream_header(h, STDSTREAM_STDERR, 0x01020304);
	assert_int_equal(h[0], 2);
	assert_int_equal(h[1] | h[2] | h[3], 0);
	assert_int_equal(h[4], 1);
	assert_int_equal(h[7], 4);
}

static void
t_frame_and_demux_every_split(void **state)
{
	struct buf framed;

	(void)state;
	buf_init(&framed, 0);
	stdstream_frame(&framed, STDSTREAM_STDOUT, "hello\n", 6);
	stdstream_frame(&framed, STDSTREAM_STDERR, "oops\n", 5);
	stdstream_frame(&framed, STDSTREAM_STDOUT, "bye\n", 4);
	assert_int_equal(framed.len, 3 * 8 + 15);
	/* Feed in two pieces at every possible split point. */
	for (size_t cut = 0; cut <= framed.len; cut++) {
		struct stdstream_demux d;
		struct collected c;
		buf_init(&c.out, 0);
		buf_init(&c.err, 0);
		stdstream_demux_init(&d);
		assert_int_equal(
		    stdstream_demux_feed(&d, framed.data, cut, collect, &c), 0);
		assert_int_equal(stdstream_demux_feed(&d, framed.data + cut,
				     framed.len - cut, collect, &c),
		    0);
		assert_string_equal(c.out.data, "hello\nbye\n");
		assert_string_equal(c.err.data, "oops\n");
		buf_free(&c.out);
		buf_free(&c.err);
	}
	buf_free(&framed);
}

static void
t_demux_rejects_bad_stream(void **state)
{
	struct stdstream_demux d;
	struct collected c;
	unsigned char bad[8] = { 7, 0, 0, 0, 0, 0, 0, 1 };

	(void)state;
	buf_init(&c.out, 0);
	buf_init(&c.err, 0);
	stdstream_demux_init(&d);
	assert_int_equal(
	    stdstream_demux_feed(&d, bad, sizeof(bad), collect, &c), -1);
}

static void
t_empty_payload_writes_nothing(void **state)
{
	struct buf framed;

	(void)state;
	buf_init(&framed, 0);
	assert_int_equal(stdstream_frame(&framed, STDSTREAM_STDOUT, "", 0), 0);
	assert_int_equal(framed.len, 0);
	buf_free(&framed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_header_layout),
		cmocka_unit_test(t_frame_and_demux_every_split),
		cmocka_unit_test(t_demux_rejects_bad_stream),
		cmocka_unit_test(t_empty_payload_writes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
