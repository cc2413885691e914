/* HTTP client on libcurl multi driven by libevent; see httpcli.h. Every
 * attempt uses a fresh easy handle, so a retry starts from a clean state
 * and the on_attempt hook can re-sign. */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "sockerless/httpcli.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* httpcli_set_user_agent's, for the life of the process. */
static char httpcli_ua[96];

#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS	10000

struct httpcli_req {
	char *method, *url, *unix_path;
	struct strv headers;
	char *body;
	size_t body_len, max_resp;
	long attempt_ms, total_ms;
	int max_attempts;
	int (*on_attempt)(struct httpcli_req *, void *, struct err *);
	void *on_attempt_arg;
	int (*retry_if)(const struct httpcli_resp *, void *);
	void *retry_if_arg;
	long (*retry_delay)(const struct httpcli_resp *, void *);
	void *retry_delay_arg;
	int (*on_data)(void *, const void *, size_t);
	void *on_data_arg;

	/* While sent. */
	struct httpcli *cli;
	uint64_t id;
	httpcli_cb cb;
	void *cb_arg;
	void (*arg_free)(void *); /* httpcli_send_owned: with the request */
	CURL *easy;
	struct curl_slist *slist;
	struct httpcli_resp *resp;
	size_t resp_cap;
	int too_large, attempts;
	/* Streaming (on_data): bytes handed out, and what the data callback
	 * did: in_data while it runs, cancelled by httpcli_cancel from inside
	 * it (freed once curl lets go), stopped when it returned -1. */
	size_t delivered;
	int in_data, cancelled, stopped;
	char errbuf[CURL_ERROR_SIZE];
	int64_t start_ns;
	struct event *retry_ev;
	struct event *done_ev; /* a completion waiting for the loop */
	TAILQ_ENTRY(httpcli_req) entry;
};

TAILQ_HEAD(req_list, httpcli_req);

struct httpcli {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct req_list reqs;
	uint64_t next_id;
};

struct sock_ctx {
	struct event *ev;
	struct httpcli *cli;
};

static void httpcli_check(struct httpcli *c);
static void httpcli_attempt(struct httpcli_req *r);

static void
httpcli_global_init(void)
{
	static int done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

void
httpcli_set_user_agent(const char *ua)
{
	str_lcpy(httpcli_ua, ua, sizeof(httpcli_ua));
}

const char *
httpcli_user_agent(void)
{
	return httpcli_ua[0] != '\0' ? httpcli_ua : "sockerless";
}

/* --- request builder --- */

struct httpcli_req *
httpcli_req_new(const char *method, const char *url)
{
	struct httpcli_req *r = xcalloc(1, sizeof(*r));

	r->method = xstrdup(method);
	r->url = xstrdup(url);
	strv_init(&r->headers);
	r->attempt_ms = 30000;
	r->total_ms = 120000;
	r->max_attempts = 3;
	r->max_resp = 64 * 1024 * 1024;
	return r;
}

static void
httpcli_resp_reset(struct httpcli_req *r)
{
	httpcli_resp_free(r->resp);
	r->resp = xcalloc(1, sizeof(*r->resp));
	strv_init(&r->resp->headers);
	r->resp->body = xstrdup("");
	r->resp_cap = 1;
	r->too_large = 0;
}

void
httpcli_req_free(struct httpcli_req *r)
{
	if (r == NULL)
		return;
	/* A sent request is freed once: after its callback, on cancel, or
	 * with the client. */
	if (r->arg_free != NULL)
		r->arg_free(r->cb_arg);
	if (r->easy != NULL) {
		if (r->cli != NULL)
			curl_multi_remove_handle(r->cli->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->slist);
	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	if (r->done_ev != NULL)
		event_free(r->done_ev);
	httpcli_resp_free(r->resp);
	free(r->method);
	free(r->url);
	free(r->unix_path);
	strv_free(&r->headers);
	free(r->body);
	free(r);
}

static ssize_t
header_index(const struct httpcli_req *r, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->headers.n; i++)
		if (strncasecmp(r->headers.v[i], name, n) == 0 &&
		    r->headers.v[i][n] == ':')
			return (ssize_t)i;
	return -1;
}

void
httpcli_req_del_header(struct httpcli_req *r, const char *name)
{
	ssize_t i;

	while ((i = header_index(r, name)) != -1) {
		free(r->headers.v[i]);
		memmove(&r->headers.v[i], &r->headers.v[i + 1],
		    (r->headers.n - (size_t)i) * sizeof(char *));
		r->headers.n--;
	}
}

void
httpcli_req_header(struct httpcli_req *r, const char *name, const char *value)
{
	ssize_t i = header_index(r, name);
	char *line = xasprintf("%s: %s", name, value);

	if (i != -1) {
		free(r->headers.v[i]);
		r->headers.v[i] = line;
	} else
		strv_take(&r->headers, line);
}

void
httpcli_req_body(struct httpcli_req *r, const void *p, size_t len)
{
	free(r->body);
	r->body = xmalloc(len + 1);
	if (len > 0)
		memcpy(r->body, p, len);
	r->body[len] = '\0';
	r->body_len = len;
}

void
httpcli_req_timeouts(struct httpcli_req *r, long attempt_ms, long total_ms)
{
	r->attempt_ms = attempt_ms;
	r->total_ms = total_ms;
}

void
httpcli_req_attempts(struct httpcli_req *r, int max_attempts)
{
	r->max_attempts = max_attempts < 1 ? 1 : max_attempts;
}

void
httpcli_req_max_response(struct httpcli_req *r, size_t max)
{
	r->max_resp = max;
}

void
httpcli_req_unix_socket(struct httpcli_req *r, const char *path)
{
	free(r->unix_path);
	r->unix_path = path != NULL ? xstrdup(path) : NULL;
}

void
httpcli_req_on_attempt(struct httpcli_req *r,
    int (*fn)(struct httpcli_req *, void *, struct err *), void *arg)
{
	r->on_attempt = fn;
	r->on_attempt_arg = arg;
}

void
httpcli_req_retry_if(struct httpcli_req *r,
    int (*fn)(const struct httpcli_resp *, void *), void *arg)
{
	r->retry_if = fn;
	r->retry_if_arg = arg;
}

void
httpcli_req_retry_delay(struct httpcli_req *r,
    long (*fn)(const struct httpcli_resp *, void *), void *arg)
{
	r->retry_delay = fn;
	r->retry_delay_arg = arg;
}

void
httpcli_req_on_data(struct httpcli_req *r,
    int (*cb)(void *arg, const void *p, size_t n), void *arg)
{
	r->on_data = cb;
	r->on_data_arg = arg;
}

const char *
httpcli_req_method(const struct httpcli_req *r)
{
	return r->method;
}

const char *
httpcli_req_url(const struct httpcli_req *r)
{
	return r->url;
}

const char *
httpcli_req_get_header(const struct httpcli_req *r, const char *name)
{
	ssize_t i = header_index(r, name);
	const char *v;

	if (i == -1)
		return NULL;
	v = r->headers.v[i] + strlen(name) + 1;
	while (*v == ' ')
		v++;
	return v;
}

const struct strv *
httpcli_req_headers(const struct httpcli_req *r)
{
	return &r->headers;
}

const void *
httpcli_req_get_body(const struct httpcli_req *r, size_t *len)
{
	if (len != NULL)
		*len = r->body_len;
	return r->body;
}

/* --- responses --- */

void
httpcli_resp_free(struct httpcli_resp *resp)
{
	if (resp == NULL)
		return;
	strv_free(&resp->headers);
	free(resp->body);
	free(resp);
}

const char *
httpcli_resp_header(const struct httpcli_resp *resp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < resp->headers.n; i++) {
		const char *h = resp->headers.v[i];

		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			return h;
		}
	}
	return NULL;
}

/* Whether this attempt's body goes to on_data: a 2xx only, so that an
 * error's body is still buffered for the response callback to read. */
static int
httpcli_streaming(struct httpcli_req *r)
{
	long code = 0;

	if (r->easy == NULL)
		return 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	return code >= 200 && code <= 299;
}

/* Hands n bytes to on_data. Returning 0 to curl aborts the transfer: the
 * receiver stopped it, or cancelled the request from inside the callback
 * (the request must outlive this frame: it is freed in httpcli_check). */
static size_t
httpcli_deliver(struct httpcli_req *r, const char *p, size_t n)
{
	int rc;

	r->delivered += n;
	r->in_data = 1;
	rc = r->on_data(r->on_data_arg, p, n);
	r->in_data = 0;
	if (r->cancelled)
		return 0;
	if (rc == -1) {
		r->stopped = 1;
		return 0;
	}
	return n;
}

static size_t
httpcli_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct httpcli_req *r = arg;
	struct httpcli_resp *resp = r->resp;
	size_t n = size * nmemb;

	if (r->on_data != NULL && httpcli_streaming(r))
		return httpcli_deliver(r, p, n);
	if (resp->body_len + n > r->max_resp) {
		r->too_large = 1;
		return 0; /* aborts the transfer */
	}
	if (resp->body_len + n + 1 > r->resp_cap) {
		r->resp_cap = (resp->body_len + n + 1) * 2;
		resp->body = xrealloc(resp->body, r->resp_cap);
	}
	memcpy(resp->body + resp->body_len, p, n);
	resp->body_len += n;
	resp->body[resp->body_len] = '\0';
	return n;
}

static size_t
httpcli_header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct httpcli_req *r = arg;
	size_t n = size * nmemb, len = n;

	/* A new status line (redirect, 100 Continue) starts over. */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		strv_free(&r->resp->headers);
		strv_init(&r->resp->headers);
		return n;
	}
	while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (len > 0 && memchr(p, ':', len) != NULL)
		strv_take(&r->resp->headers, xstrndup(p, len));
	return n;
}

/* Configures a fresh easy handle for one attempt. */
static int
httpcli_setup(struct httpcli_req *r, struct err *e)
{
	long remaining;
	CURL *h;

	if (r->on_attempt != NULL &&
	    r->on_attempt(r, r->on_attempt_arg, e) == -1)
		return -1;
	httpcli_resp_reset(r);
	curl_slist_free_all(r->slist);
	r->slist = NULL;
	for (size_t i = 0; i < r->headers.n; i++)
		r->slist = curl_slist_append(r->slist, r->headers.v[i]);
	r->slist = curl_slist_append(r->slist, "Expect:");
	if ((h = curl_easy_init()) == NULL)
		return err_set(e, 500, "curl_easy_init failed");
	r->easy = h;
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	if (httpcli_ua[0] != '\0')
		curl_easy_setopt(h, CURLOPT_USERAGENT, httpcli_ua);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	r->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->slist);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpcli_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, httpcli_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Long synchronous calls (a Lambda Invoke lasts up to 15 minutes)
	 * must not be dropped by NAT or load balancers idling them out. */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 60L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 30L);
	if (r->unix_path != NULL)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, r->unix_path);
	if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
		/* Registries redirect blob downloads to storage. */
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (strcmp(r->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->method, "GET") == 0 && r->body == NULL)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
		if (r->body != NULL || strcmp(r->method, "POST") == 0 ||
		    strcmp(r->method, "PUT") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
			    r->body != NULL ? r->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)r->body_len);
		}
	}
	remaining =
	    r->total_ms - (long)((str_now_ns() - r->start_ns) / 1000000);
	if (remaining < 1)
		remaining = 1;
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	    r->attempt_ms < remaining ? r->attempt_ms : remaining);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    10000L < remaining ? 10000L : remaining);
	r->resp->attempts = ++r->attempts;
	return 0;
}

/* Fills status/error after an attempt; returns 1 if it should be retried
 * and the delay in *delay_ms. */
static int
httpcli_finish_attempt(
    struct httpcli_req *r, CURLcode res, const char *errbuf, long *delay_ms)
{
	struct httpcli_resp *resp = r->resp;
	long code = 0, elapsed, cap, d;
	int retry = 0;
	const char *ra;
	unsigned int rnd;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res != CURLE_OK) {
		resp->status = 0;
		if (r->too_large)
			snprintf(resp->error, sizeof(resp->error),
			    "response larger than %zu bytes", r->max_resp);
		else if (r->stopped)
			snprintf(resp->error, sizeof(resp->error),
			    "transfer stopped by the data callback");
		else
			snprintf(resp->error, sizeof(resp->error), "%s",
			    errbuf != NULL && errbuf[0] != '\0' ?
				errbuf :
				curl_easy_strerror(res));
		retry = !r->too_large && !r->stopped;
	} else {
		resp->status = (int)code;
		retry = code == 429 || code == 500 || code == 502 ||
		    code == 503 || code == 504;
	}
	if (!retry && r->retry_if != NULL && r->retry_if(resp, r->retry_if_arg))
		retry = 1;
	/* Bytes already handed to on_data cannot be taken back. */
	if (r->delivered > 0)
		retry = 0;
	elapsed = (long)((str_now_ns() - r->start_ns) / 1000000);
	resp->duration_ms = (double)(str_now_ns() - r->start_ns) / 1e6;
	if (!retry || resp->attempts >= r->max_attempts)
		return 0;
	/* Capped full jitter; Retry-After (seconds) when the server says. */
	cap = BACKOFF_BASE_MS << (resp->attempts < 10 ? resp->attempts : 10);
	if (cap > BACKOFF_CAP_MS)
		cap = BACKOFF_CAP_MS;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (unsigned int)random();
	d = (long)(rnd % (unsigned int)(cap + 1));
	ra =
	    resp->status != 0 ? httpcli_resp_header(resp, "Retry-After") : NULL;
	if (ra != NULL) {
		long long secs;

		if (str_tonum(ra, 0, 3600, &secs, NULL) == 0)
			d = (long)secs * 1000;
		else {
			struct tm tm;

			memset(&tm, 0, sizeof(tm));
			if (strptime(ra, "%a, %d %b %Y %H:%M:%S GMT", &tm) !=
			    NULL) {
				long long t = (long long)timegm(&tm) -
				    (long long)time(NULL);

				d = t > 0 ? (long)(t * 1000) : 0;
			}
		}
	}
	/* A delay the body asks for (google.rpc.RetryInfo) wins. */
	if (resp->status != 0 && r->retry_delay != NULL) {
		long bd = r->retry_delay(resp, r->retry_delay_arg);

		if (bd >= 0)
			d = bd;
	}
	if (elapsed + d >= r->total_ms)
		return 0;
	*delay_ms = d;
	return 1;
}

/* --- asynchronous engine --- */

static void
httpcli_sock_cb_ev(evutil_socket_t fd, short what, void *arg)
{
	struct httpcli *c = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	httpcli_check(c);
}

static int
httpcli_sock_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct httpcli *c = arg;
	struct sock_ctx *sc = sockp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sc != NULL) {
			event_free(sc->ev);
			free(sc);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (sc == NULL) {
		sc = xcalloc(1, sizeof(*sc));
		sc->cli = c;
		curl_multi_assign(c->multi, s, sc);
	} else
		event_free(sc->ev);
	sc->ev = event_new(c->base, s, kind, httpcli_sock_cb_ev, c);
	event_add(sc->ev, NULL);
	return 0;
}

static void
httpcli_timer_ev(evutil_socket_t fd, short what, void *arg)
{
	struct httpcli *c = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	httpcli_check(c);
}

static int
httpcli_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct httpcli *c = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	return 0;
}

struct httpcli *
httpcli_new(struct event_base *base)
{
	struct httpcli *c = xcalloc(1, sizeof(*c));

	httpcli_global_init();
	c->base = base;
	if ((c->multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init failed");
	c->timer = evtimer_new(base, httpcli_timer_ev, c);
	TAILQ_INIT(&c->reqs);
	c->next_id = 1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, httpcli_sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, httpcli_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 32L);
	return c;
}

void
httpcli_free(struct httpcli *c)
{
	struct httpcli_req *r;

	if (c == NULL)
		return;
	while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
		TAILQ_REMOVE(&c->reqs, r, entry);
		httpcli_req_free(r);
	}
	curl_multi_cleanup(c->multi);
	event_free(c->timer);
	free(c);
}

/* Delivers the response and frees the request. */
static void
httpcli_complete(struct httpcli_req *r)
{
	struct httpcli *c = r->cli;
	struct httpcli_resp *resp = r->resp;

	TAILQ_REMOVE(&c->reqs, r, entry);
	r->resp = NULL;
	resp->duration_ms = (double)(str_now_ns() - r->start_ns) / 1e6;
	r->cb(resp, r->cb_arg);
	httpcli_resp_free(resp);
	r->cli = NULL;
	httpcli_req_free(r);
}

static void
httpcli_retry_ev(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpcli_attempt(arg);
}

static void
httpcli_done_ev(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpcli_complete(arg);
}

/* An attempt that could not even start (signing failed, say) completes
 * from the loop, never inside httpcli_send: the caller has not yet
 * recorded the call, and completing there would run its callback, and
 * free the request, under its feet. */
static void
httpcli_attempt(struct httpcli_req *r)
{
	struct err e;

	if (httpcli_setup(r, &e) == -1) {
		if (r->resp == NULL)
			httpcli_resp_reset(r);
		r->resp->status = 0;
		str_lcpy(r->resp->error, e.msg, sizeof(r->resp->error));
		if (r->easy != NULL) {
			curl_easy_cleanup(r->easy);
			r->easy = NULL;
		}
		if (r->done_ev == NULL)
			r->done_ev =
			    evtimer_new(r->cli->base, httpcli_done_ev, r);
		event_active(r->done_ev, EV_TIMEOUT, 1);
		return;
	}
	curl_multi_add_handle(r->cli->multi, r->easy);
}

static void
httpcli_check(struct httpcli *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct httpcli_req *r;
		long delay;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(
		    msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_multi_remove_handle(c->multi, r->easy);
		if (r->cancelled) {
			/* Cancelled from inside its data callback. */
			TAILQ_REMOVE(&c->reqs, r, entry);
			httpcli_req_free(r);
			continue;
		}
		if (httpcli_finish_attempt(
			r, msg->data.result, r->errbuf, &delay)) {
			struct timeval tv = { delay / 1000,
				(delay % 1000) * 1000 };

			curl_easy_cleanup(r->easy);
			r->easy = NULL;
			if (r->retry_ev == NULL)
				r->retry_ev =
				    evtimer_new(c->base, httpcli_retry_ev, r);
			evtimer_add(r->retry_ev, &tv);
			continue;
		}
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		httpcli_complete(r);
	}
}

uint64_t
httpcli_send_owned(struct httpcli *c, struct httpcli_req *r, httpcli_cb cb,
    void *arg, void (*arg_free)(void *))
{
	r->cli = c;
	r->cb = cb;
	r->cb_arg = arg;
	r->arg_free = arg_free;
	r->id = c->next_id++;
	r->start_ns = str_now_ns();
	TAILQ_INSERT_TAIL(&c->reqs, r, entry);
	httpcli_attempt(r);
	/* r is still ours: completions only ever run from the loop. */
	return r->id;
}

uint64_t
httpcli_send(struct httpcli *c, struct httpcli_req *r, httpcli_cb cb, void *arg)
{
	return httpcli_send_owned(c, r, cb, arg, NULL);
}

void
httpcli_cancel(struct httpcli *c, uint64_t id)
{
	struct httpcli_req *r;

	TAILQ_FOREACH(r, &c->reqs, entry) {
		if (r->id == id && r->in_data) {
			/* Inside its own data callback: curl still holds
			 * the handle; httpcli_check frees it. */
			r->cancelled = 1;
			return;
		}
		if (r->id == id && !r->cancelled) {
			TAILQ_REMOVE(&c->reqs, r, entry);
			httpcli_req_free(r);
			return;
		}
	}
}

/* --- blocking variant --- */

struct httpcli_resp *
httpcli_perform(struct httpcli_req *r)
{
	struct httpcli_resp *resp;
	struct err e;

	httpcli_global_init();
	r->start_ns = str_now_ns();
	for (;;) {
		CURLcode res;
		long delay = 0;

		if (httpcli_setup(r, &e) == -1) {
			if (r->resp == NULL)
				httpcli_resp_reset(r);
			str_lcpy(r->resp->error, e.msg, sizeof(r->resp->error));
			break;
		}
		res = curl_easy_perform(r->easy);
		if (!httpcli_finish_attempt(r, res, r->errbuf, &delay))
			break;
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		{
			struct timespec ts = { delay / 1000,
				(delay % 1000) * 1000000 };

			while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
				;
		}
	}
	resp = r->resp;
	r->resp = NULL;
	resp->duration_ms = (double)(str_now_ns() - r->start_ns) / 1e6;
	httpcli_req_free(r);
	return resp;
}
