/* The EC2 Query protocol: requests are form-encoded POSTs (Action,
 * Version=2016-11-15, then the operation's members flattened as
 * "Name.N.Member" keys, as botocore's ec2 serializer writes them), signed
 * for service "ec2"; answers are XML. The XML reader is a bounded scanner
 * over a range of the answer for the few elements the backends need: no
 * DTDs, no entity definitions, nesting limited, never reads outside its
 * range. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/aws_ec2.h"
#include "sockerless/httpcli.h"
#include "sockerless/xmalloc.h"

#include "aws_int.h"

/* A Query form is small; EC2 caps a request at 20 KiB of parameters. */
#define AWS_QUERY_MAX (64 * 1024)

/* --- the Query encoding ------------------------------------------------- */

void
aws_query_init(struct buf *q, const char *action)
{
	buf_init(q, AWS_QUERY_MAX);
	buf_adds(q, "Action=");
	sigv4_uri_encode(q, action, strlen(action), 0);
	buf_adds(q, "&Version=" AWS_EC2_VERSION);
}

void
aws_query_add(struct buf *q, const char *key, const char *value)
{
	buf_adds(q, "&");
	sigv4_uri_encode(q, key, strlen(key), 0);
	buf_adds(q, "=");
	sigv4_uri_encode(q, value, strlen(value), 0);
}

void
aws_query_addf(struct buf *q, const char *value, const char *keyfmt, ...)
{
	char key[256];
	va_list ap;

	va_start(ap, keyfmt);
	vsnprintf(key, sizeof(key), keyfmt, ap);
	va_end(ap);
	aws_query_add(q, key, value);
}

void
aws_ec2_q_create_sg(struct buf *q, const char *name, const char *desc,
    const char *vpc, const char *const *tags)
{
	size_t n = 0;

	aws_query_init(q, "CreateSecurityGroup");
	aws_query_add(q, "GroupName", name);
	aws_query_add(q, "GroupDescription", desc);
	if (vpc != NULL && vpc[0] != '\0')
		aws_query_add(q, "VpcId", vpc);
	if (tags == NULL || tags[0] == NULL)
		return;
	aws_query_add(q, "TagSpecification.1.ResourceType", "security-group");
	for (; tags[0] != NULL && tags[1] != NULL; tags += 2) {
		n++;
		aws_query_addf(q, tags[0], "TagSpecification.1.Tag.%zu.Key", n);
		aws_query_addf(
		    q, tags[1], "TagSpecification.1.Tag.%zu.Value", n);
	}
}

void
aws_ec2_q_sg_rule(struct buf *q, const char *action, const char *group,
    const char *peer_group, const char *cidr)
{
	aws_query_init(q, action);
	aws_query_add(q, "GroupId", group);
	aws_query_add(q, "IpPermissions.1.IpProtocol", "-1");
	if (peer_group != NULL)
		aws_query_add(
		    q, "IpPermissions.1.Groups.1.GroupId", peer_group);
	else
		aws_query_add(q, "IpPermissions.1.IpRanges.1.CidrIp", cidr);
}

void
aws_ec2_q_delete_sg(struct buf *q, const char *group)
{
	aws_query_init(q, "DeleteSecurityGroup");
	aws_query_add(q, "GroupId", group);
}

void
aws_ec2_q_describe_sgs_tag(struct buf *q, const char *key, const char *value)
{
	char name[300];

	aws_query_init(q, "DescribeSecurityGroups");
	snprintf(name, sizeof(name), "tag:%s", key);
	aws_query_add(q, "Filter.1.Name", name);
	aws_query_add(q, "Filter.1.Value.1", value);
}

void
aws_ec2_q_describe_sgs_name(struct buf *q, const char *name, const char *vpc)
{
	aws_query_init(q, "DescribeSecurityGroups");
	aws_query_add(q, "Filter.1.Name", "group-name");
	aws_query_add(q, "Filter.1.Value.1", name);
	if (vpc != NULL && vpc[0] != '\0') {
		aws_query_add(q, "Filter.2.Name", "vpc-id");
		aws_query_add(q, "Filter.2.Value.1", vpc);
	}
}

void
aws_ec2_q_describe_subnets(struct buf *q, const struct strv *subnets)
{
	aws_query_init(q, "DescribeSubnets");
	for (size_t i = 0; i < subnets->n; i++)
		aws_query_addf(q, subnets->v[i], "SubnetId.%zu", i + 1);
}

/* --- calls -------------------------------------------------------------- */

static void
aws_ec2_rest(struct aws_rest *rq, struct buf *q)
{
	memset(rq, 0, sizeof(*rq));
	rq->method = "POST";
	rq->path = "/";
	rq->body = q->data != NULL ? q->data : "";
	rq->body_len = q->len;
	rq->content_type = "application/x-www-form-urlencoded; charset=utf-8";
}

uint64_t
aws_ec2_call(
    struct aws *a, const char *action, struct buf *q, aws_rest_cb cb, void *arg)
{
	struct aws_rest rq;
	uint64_t id;

	aws_ec2_rest(&rq, q);
	id = aws_rest_call(a, "ec2", action, &rq, cb, arg);
	buf_free(q);
	return id;
}

/* --- the XML reader ------------------------------------------------------ */

static int
aws_xml_namech(char c)
{
	return c != '\0' && strchr(" \t\r\n/>=<\"'", c) == NULL;
}

/* Past a comment, processing instruction or CDATA section at s (which
 * starts with "<!" or "<?"); NULL when unterminated or a DOCTYPE. cdata
 * (may be NULL) gets the CDATA content. */
static const char *
aws_xml_skip_markup(const char *s, const char *end, struct aws_xml *cdata)
{
	static const struct {
		const char *open, *close;
	} kinds[] = { { "<!--", "-->" }, { "<![CDATA[", "]]>" },
		{ "<?", "?>" } };
	size_t left = (size_t)(end - s);

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t ol = strlen(kinds[i].open), cl = strlen(kinds[i].close);
		const char *t;

		if (left < ol || memcmp(s, kinds[i].open, ol) != 0)
			continue;
		for (t = s + ol; (size_t)(end - t) >= cl; t++) {
			if (memcmp(t, kinds[i].close, cl) != 0)
				continue;
			if (cdata != NULL && i == 1) {
				cdata->p = s + ol;
				cdata->len = (size_t)(t - (s + ol));
			}
			return t + cl;
		}
		return NULL;
	}
	return NULL; /* <!DOCTYPE, <!ENTITY: refused */
}

/* A tag at s ('<'): its name range, kind (1 open, 2 close, 3 empty) and
 * the end just past '>'. NULL when malformed. */
static const char *
aws_xml_tag(
    const char *s, const char *end, const char **name, size_t *nlen, int *kind)
{
	const char *t = s + 1;
	char quote = 0;

	*kind = 1;
	if (t < end && *t == '/') {
		*kind = 2;
		t++;
	}
	*name = t;
	while (t < end && aws_xml_namech(*t))
		t++;
	*nlen = (size_t)(t - *name);
	if (*nlen == 0)
		return NULL;
	for (; t < end; t++) {
		if (quote != 0) {
			quote = *t == quote ? 0 : quote;
			continue;
		}
		if (*t == '"' || *t == '\'') {
			if (*kind == 2)
				return NULL;
			quote = *t;
		} else if (*t == '<')
			return NULL;
		else if (*t == '>') {
			if (*kind == 1 && t[-1] == '/')
				*kind = 3;
			return t + 1;
		}
	}
	return NULL;
}

/* The element whose open tag ends at s (name nm, nlen): its content and
 * the end past its close tag, checking every nested close tag matches. */
static const char *
aws_xml_element(const char *s, const char *end, const char *nm, size_t nlen,
    struct aws_xml *content)
{
	const char *names[AWS_XML_MAX_DEPTH];
	size_t lens[AWS_XML_MAX_DEPTH];
	int depth = 0;

	names[0] = nm;
	lens[0] = nlen;
	content->p = s;
	while (s < end) {
		const char *lt = memchr(s, '<', (size_t)(end - s)), *tn;
		size_t tl;
		int kind;

		if (lt == NULL)
			return NULL;
		if (lt + 1 < end && (lt[1] == '!' || lt[1] == '?')) {
			if ((s = aws_xml_skip_markup(lt, end, NULL)) == NULL)
				return NULL;
			continue;
		}
		if ((s = aws_xml_tag(lt, end, &tn, &tl, &kind)) == NULL)
			return NULL;
		if (kind == 1) {
			if (++depth >= AWS_XML_MAX_DEPTH)
				return NULL;
			names[depth] = tn;
			lens[depth] = tl;
		} else if (kind == 2) {
			if (tl != lens[depth] ||
			    memcmp(tn, names[depth], tl) != 0)
				return NULL;
			if (depth-- == 0) {
				content->len = (size_t)(lt - content->p);
				return s;
			}
		}
	}
	return NULL;
}

static void
aws_xml_name(char *name, size_t size, const char *nm, size_t nlen)
{
	if (name == NULL || size == 0)
		return;
	if (nlen >= size)
		nlen = 0; /* too long to be a name we look for */
	memcpy(name, nm, nlen);
	name[nlen] = '\0';
}

int
aws_xml_next(struct aws_xml *it, struct aws_xml *child, char *name, size_t size)
{
	const char *s = it->p, *end = it->p + it->len, *nm;
	size_t nlen;
	int kind;

	while (s < end) {
		const char *lt = memchr(s, '<', (size_t)(end - s));

		if (lt == NULL)
			break;
		if (lt + 1 < end && (lt[1] == '!' || lt[1] == '?')) {
			if ((s = aws_xml_skip_markup(lt, end, NULL)) == NULL)
				return -1;
			continue;
		}
		if ((s = aws_xml_tag(lt, end, &nm, &nlen, &kind)) == NULL ||
		    kind == 2)
			return -1;
		if (kind == 3) {
			child->p = s;
			child->len = 0;
		} else if ((s = aws_xml_element(s, end, nm, nlen, child)) ==
		    NULL)
			return -1;
		aws_xml_name(name, size, nm, nlen);
		it->len -= (size_t)(s - it->p);
		it->p = s;
		return 1;
	}
	it->p = end;
	it->len = 0;
	return 0;
}

int
aws_xml_root(
    const char *doc, size_t len, struct aws_xml *root, char *name, size_t size)
{
	struct aws_xml it = { doc, len }, rest;
	char nm[128];

	if (doc == NULL || aws_xml_next(&it, root, nm, sizeof(nm)) != 1)
		return -1;
	/* Nothing but comments may follow the root. */
	rest = it;
	if (aws_xml_next(&rest, &it, NULL, 0) != 0)
		return -1;
	aws_xml_name(name, size, nm, strlen(nm));
	return 0;
}

int
aws_xml_find(const struct aws_xml *scope, const char *path, struct aws_xml *out)
{
	struct aws_xml cur = *scope, it, child;
	char nm[128];

	while (*path != '\0') {
		size_t seg = strcspn(path, "/");
		int rc;

		it = cur;
		while ((rc = aws_xml_next(&it, &child, nm, sizeof(nm))) == 1)
			if (strlen(nm) == seg && memcmp(nm, path, seg) == 0)
				break;
		if (rc != 1)
			return -1;
		cur = child;
		path += seg;
		path += *path == '/';
	}
	*out = cur;
	return 0;
}

/* Writes code point cp as UTF-8; -1 when it is not a character XML
 * allows or does not fit. */
static int
aws_xml_utf8(unsigned long cp, char *out, size_t *n, size_t size)
{
	unsigned char u[4];
	size_t k;

	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return -1;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (unsigned char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	if (*n + k >= size)
		return -1;
	memcpy(out + *n, u, k);
	*n += k;
	return 0;
}

/* One entity at s ('&'): decoded into out; the end past ';'. */
static const char *
aws_xml_entity(
    const char *s, const char *end, char *out, size_t *n, size_t size)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = { { "amp", '&' }, { "lt", '<' }, { "gt", '>' },
		{ "quot", '"' }, { "apos", '\'' } };
	const char *semi =
	    memchr(s, ';', (size_t)(end - s) < 12 ? (size_t)(end - s) : 12);
	size_t len;
	unsigned long cp = 0;

	if (semi == NULL || (len = (size_t)(semi - s - 1)) == 0)
		return NULL;
	if (s[1] == '#') {
		int hex = len > 1 && (s[2] == 'x' || s[2] == 'X');
		const char *d = s + 2 + hex;

		if (d == semi)
			return NULL;
		for (; d < semi; d++) {
			int v = *d >= '0' && *d <= '9'	  ? *d - '0' :
			    hex && *d >= 'a' && *d <= 'f' ? *d - 'a' + 10 :
			    hex && *d >= 'A' && *d <= 'F' ? *d - 'A' + 10 :
							    -1;
			if (v < 0 || cp > 0x10FFFF)
				return NULL;
			cp = cp * (hex ? 16 : 10) + (unsigned long)v;
		}
		return aws_xml_utf8(cp, out, n, size) == 0 ? semi + 1 : NULL;
	}
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		if (strlen(ents[i].name) != len ||
		    memcmp(s + 1, ents[i].name, len) != 0)
			continue;
		if (*n + 1 >= size)
			return NULL;
		out[(*n)++] = ents[i].c;
		return semi + 1;
	}
	return NULL;
}

/* Markup inside text at s ('<'): a CDATA section's content is text, a
 * child element is skipped whole, comments and PIs are skipped. */
static const char *
aws_xml_text_markup(
    const char *s, const char *end, char *out, size_t *n, size_t size)
{
	struct aws_xml cd = { NULL, 0 }, it = { s, (size_t)(end - s) }, child;

	if (s + 1 < end && (s[1] == '!' || s[1] == '?')) {
		if ((s = aws_xml_skip_markup(s, end, &cd)) == NULL)
			return NULL;
		if (cd.p != NULL) {
			if (*n + cd.len >= size)
				return NULL;
			memcpy(out + *n, cd.p, cd.len);
			*n += cd.len;
		}
		return s;
	}
	if (aws_xml_next(&it, &child, NULL, 0) != 1)
		return NULL;
	return it.p;
}

int
aws_xml_text(const struct aws_xml *el, char *out, size_t size)
{
	const char *s = el->p, *end = el->p + el->len;
	size_t n = 0;

	if (size == 0)
		return -1;
	out[0] = '\0';
	while (s < end) {
		if (*s == '&')
			s = aws_xml_entity(s, end, out, &n, size);
		else if (*s == '<')
			s = aws_xml_text_markup(s, end, out, &n, size);
		else if (n + 1 < size)
			out[n++] = *s++;
		else
			s = NULL;
		if (s == NULL) {
			out[0] = '\0';
			return -1;
		}
	}
	out[n] = '\0';
	return 0;
}

int
aws_xml_get(
    const struct aws_xml *scope, const char *path, char *out, size_t size)
{
	struct aws_xml el;

	if (size > 0)
		out[0] = '\0';
	if (aws_xml_find(scope, path, &el) == -1)
		return -1;
	return aws_xml_text(&el, out, size);
}

int
aws_xml_error(const char *body, size_t len, char *code, size_t codesz,
    char *msg, size_t msgsz, char *rid, size_t ridsz)
{
	struct aws_xml root, err;
	char name[32];

	code[0] = msg[0] = rid[0] = '\0';
	if (aws_xml_root(body, len, &root, name, sizeof(name)) == -1)
		return -1;
	if (strcmp(name, "Response") == 0) {
		if (aws_xml_find(&root, "Errors/Error", &err) == -1)
			return -1;
		aws_xml_get(&root, "RequestID", rid, ridsz);
	} else if (strcmp(name, "ErrorResponse") == 0) {
		if (aws_xml_find(&root, "Error", &err) == -1)
			return -1;
		aws_xml_get(&root, "RequestId", rid, ridsz);
	} else
		return -1;
	if (aws_xml_get(&err, "Code", code, codesz) == -1 || code[0] == '\0')
		return -1;
	aws_xml_get(&err, "Message", msg, msgsz);
	return 0;
}
