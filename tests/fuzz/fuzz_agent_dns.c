/* The agent's resolver and its configuration (agent/dnsmsg.c, netcfg.c):
 * an input starting with 'N' is a names request, with 'P' one in relay
 * mode (agent/relay.c: its "peers", whose listeners are made on 127.64.42.N
 * and closed again by the next input), with 'S' a SOCKERLESS_NET value;
 * anything else is a DNS message answered from a fixed table (and
 * answered SERVFAIL), as the resolver does with what a client sends. */
#include <string.h>

#include "../../agent/net.h"
#include "fuzz.h"

static const char fuzz_dns_table[] =
    "{\"kind\":\"names\",\"names\":{\"db\":[\"10.0.0.7\"],"
    "\"alias1\":[\"10.0.0.7\",\"10.0.0.8\"],\"3f2a1b4c5d6e\":[\"10.0.0.9\"],"
    "\"a.b.example\":[\"10.0.0.10\"]}}";

static void
fuzz_dns_query(const uint8_t *data, size_t size)
{
	static struct dns_table t;
	static int ready;
	static unsigned char out[DNS_MSG_MAX];
	static char dom[] = "example.com";
	char *search[] = { dom, NULL };
	char why[256];
	ssize_t n;

	if (!ready &&
	    dns_table_request(fuzz_dns_table, sizeof(fuzz_dns_table) - 1, &t,
		why, sizeof(why)) == 0)
		ready = 1;
	n = dns_local(&t, search, data, size, out, sizeof(out));
	if (n > (ssize_t)sizeof(out))
		abort();
	/* A small buffer must be refused, never overrun. */
	dns_local(&t, search, data, size, out, 40);
	n = dns_error(data, size, 2, out, sizeof(out));
	if (n > (ssize_t)size)
		abort(); /* an error answer is the header and question */
}

static void
fuzz_dns_relay(const char *req, size_t len)
{
	static const char none[] = "{\"names\":{},\"peers\":[]}";
	struct dns_table t;
	char why[256];

	if (!relay_on() && relay_init("3f2a") == -1)
		abort();
	memset(&t, 0, sizeof(t));
	relay_view(req, len, &t, why, sizeof(why));
	dns_table_free(&t);
	/* Nothing outlives the input. */
	if (relay_view(none, sizeof(none) - 1, &t, why, sizeof(why)) == -1)
		abort();
	dns_table_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_table t;
	struct netcfg cfg;
	char why[256];

	if (size > 0 && data[0] == 'N') {
		if (dns_table_request((const char *)data + 1, size - 1, &t, why,
			sizeof(why)) == 0)
			dns_table_free(&t);
	} else if (size > 0 && data[0] == 'P') {
		fuzz_dns_relay((const char *)data + 1, size - 1);
	} else if (size > 0 && data[0] == 'S') {
		if (netcfg_parse((const char *)data + 1, size - 1, &cfg, why,
			sizeof(why)) == 0)
			netcfg_free(&cfg);
	} else {
		fuzz_dns_query(data, size);
	}
	return 0;
}
