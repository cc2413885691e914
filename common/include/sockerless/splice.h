/* Copies bytes both ways between two bufferevents until both directions
 * have ended, honouring half-close: EOF from one side becomes
 * shutdown(SHUT_WR) on the other once its output has drained. Output is
 * bounded by watermarks, so a slow reader slows the writer. */
#ifndef SOCKERLESS_SPLICE_H
#define SOCKERLESS_SPLICE_H

#include <event2/bufferevent.h>

struct splice;

/* Takes ownership of both bufferevents (freed when the splice ends). done
 * is called once when both directions are finished or on error. */
struct splice *splice_new(struct bufferevent *a, struct bufferevent *b,
    void (*done)(void *arg), void *arg);
/* Stops early and frees both sides; done is not called. */
void splice_free(struct splice *sp);

#endif
