/* sockerless-agent: the one JSON reader (the agent links libc only, so no
 * cJSON): a cursor over a JSON text, without a tree. The link's OPEN
 * requests, the Lambda invocation and the HealthConfig are read with it. */
#ifndef AGENT_JREAD_H
#define AGENT_JREAD_H

#include <stddef.h>
#include <stdint.h>

struct jread {
	const char *p, *end;
};

/* The cursor. Each function returns 0 (the cursor past what it read) or
 * -1 when the text there is not what it reads (the cursor is then
 * somewhere inside it). */
void jread_init(struct jread *c, const char *buf, size_t len);
void jread_ws(struct jread *c);
/* 1 when the next character (after blanks) is ch; it is consumed then. */
int jread_eat(struct jread *c, char ch);
/* A string, decoded (surrogate pairs joined, lone ones U+FFFD) into *out
 * (malloc'd, NUL-terminated) unless out is NULL. */
int jread_string(struct jread *c, char **out);
/* A number as an int64: fractions dropped, clamped to about +-9.2e18. */
int jread_number(struct jread *c, int64_t *v);
/* Any one value (nesting bounded). */
int jread_skip(struct jread *c);
/* An object's next member name and its ':'; *key malloc'd. Call after
 * '{' or ','. */
int jread_member(struct jread *c, char **key);
/* After a member or an element: 1 on ',', 0 on close (consumed), else
 * -1. */
int jread_more(struct jread *c, char close);

/* A JSON array of strings at the cursor, at most max of them: a
 * NULL-terminated malloc'd vector (jread_strv_free), NULL when it is not
 * one or is longer. */
char **jread_str_array(struct jread *c, size_t max);

/* Members of the JSON object in buf[0..len) by name (the first of that
 * name). jread_str and jread_strv return malloc'd copies (NULL when the
 * member is missing, of another type or malformed); the others return
 * dflt then. */
char *jread_str(const char *buf, size_t len, const char *key);
char **jread_strv(const char *buf, size_t len, const char *key);
void jread_strv_free(char **v);
int jread_bool(const char *buf, size_t len, const char *key, int dflt);
int64_t jread_int(const char *buf, size_t len, const char *key, int64_t dflt);

#endif
