/* What gcp_auth*.c share and the unit tests and fuzz harness reach: the
 * parsed credentials, the request builders and the answer parsers. */
#ifndef SOCKERLESS_GCP_AUTH_INT_H
#define SOCKERLESS_GCP_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sockerless/err.h"
#include "sockerless/gcp_auth.h"
#include "sockerless/httpcli.h"

#define GCP_AUTH_SCOPE	       "https://www.googleapis.com/auth/cloud-platform"
#define GCP_AUTH_TOKEN_URI     "https://oauth2.googleapis.com/token"
#define GCP_AUTH_STS_URI       "https://sts.googleapis.com/v1/token"
#define GCP_AUTH_METADATA_HOST "metadata.google.internal"
#define GCP_AUTH_JWT_LIFETIME  3600
/* A token is handed out only while it has this long left... */
#define GCP_AUTH_MIN_VALID 60
/* ...and refreshed in the background this long before it expires. */
#define GCP_AUTH_REFRESH_AHEAD 300

enum gcp_cred_type {
	GCP_CRED_SERVICE_ACCOUNT = 1,
	GCP_CRED_AUTHORIZED_USER,
	GCP_CRED_EXTERNAL,
	GCP_CRED_METADATA,
};

struct gcp_cred {
	enum gcp_cred_type type;
	char *project, *email;
	/* service_account */
	char *key_id, *private_key, *token_uri;
	/* authorized_user */
	char *client_id, *client_secret, *refresh_token;
	/* external_account */
	char *audience, *subject_token_type, *sts_url, *imp_url;
	char *src_file, *src_url, *src_field; /* field NULL: text */
	char *user_project;		      /* workforce pools */
	struct strv src_headers;	      /* "Name: value" */
	/* metadata */
	char *md_host;
};

/* One token answer. */
struct gcp_tok {
	char *token;
	int64_t exp; /* unix seconds */
};

/* Seconds since the epoch; tests replace it. */
extern int64_t (*gcp_auth_now)(void);
/* Where the GCE check reads the machine's product name; tests replace
 * it. */
extern const char *gcp_auth_dmi_path;

/* Parses a credentials file's text (path only for messages). */
int gcp_auth_cred_parse(struct gcp_cred *c, const char *text, size_t len,
    const char *path, struct err *e);
void gcp_auth_cred_clear(struct gcp_cred *c);

/* The signed RS256 assertion of a service account (caller frees); aud is
 * the token endpoint; target_audience NULL: an access-token grant with
 * scope. */
char *gcp_auth_cred_jwt(const struct gcp_cred *c, const char *aud,
    const char *scope, const char *target_audience, int64_t now, struct err *e);
/* The exp claim of a JWT (not verified: it came from Google over TLS). */
int gcp_auth_cred_jwt_exp(const char *jwt, int64_t *exp, struct err *e);

/* Answers. "what" names the endpoint in messages. */
int gcp_auth_flow_parse_oauth(const char *body, size_t len, int id_token,
    struct gcp_tok *t, struct err *e);
int gcp_auth_flow_parse_iam(const char *body, size_t len, int id_token,
    struct gcp_tok *t, struct err *e);
/* The subject token out of a credential source's text (file or url). */
char *gcp_auth_flow_subject(
    const struct gcp_cred *c, const char *text, size_t len, struct err *e);
/* A failed answer as a sentence (never the request). */
void gcp_auth_flow_answer_err(
    const struct httpcli_resp *resp, const char *what, struct err *e);
void gcp_auth_flow_tok_clear(struct gcp_tok *t);

/* --- the fetch state machine (gcp_auth_flow.c) --- */

struct gcp_flow {
	const struct gcp_cred *c;
	const struct gcp_auth_conf *conf;
	char *audience; /* NULL: an access token */
	int step;
	char *sts_token; /* between the STS and impersonation steps */
	char *what;	 /* the endpoint of the current step */
	/* the metadata server's project and e-mail, when asked for */
	char *md_project, *md_email;
};

void gcp_auth_flow_init(struct gcp_flow *f, const struct gcp_cred *c,
    const struct gcp_auth_conf *conf, const char *audience);
void gcp_auth_flow_clear(struct gcp_flow *f);
/* The next request, or NULL with e set. */
struct httpcli_req *gcp_auth_flow_req(struct gcp_flow *f, struct err *e);
/* Takes a step's answer: 1 done (t filled), 0 another step, -1 error. */
int gcp_auth_flow_resp(struct gcp_flow *f, const struct httpcli_resp *resp,
    struct gcp_tok *t, struct err *e);

#endif
