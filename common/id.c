/* Container ids from the kernel CSPRNG, Docker-style random names, and
 * Docker's container-name rule. */
#include <sys/random.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sockerless/id.h"
#include "sockerless/log.h"
#include "sockerless/str.h"
#include "sockerless/xmalloc.h"

/* A subset of moby's pkg/namesgenerator lists. */
static const char *const id_adjectives[] = { "admiring", "adoring",
	"affectionate", "agitated", "amazing", "angry", "awesome", "blissful",
	"bold", "brave", "busy", "charming", "clever", "compassionate",
	"competent", "confident", "cool", "dazzling", "determined", "dreamy",
	"eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic",
	"fervent", "festive", "flamboyant", "focused", "friendly", "frosty",
	"funny", "gallant", "gifted", "goofy", "gracious", "happy", "hopeful",
	"infallible", "inspiring", "jolly", "keen", "kind", "laughing",
	"loving", "lucid", "magical", "modest", "musing", "nervous", "nifty",
	"nostalgic", "objective", "optimistic", "peaceful", "pensive",
	"practical", "priceless", "quirky", "relaxed", "reverent", "romantic",
	"serene", "sharp", "silly", "sleepy", "stoic", "strange", "sweet",
	"tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
	"vigilant", "vigorous", "wizardly", "wonderful", "xenodochial",
	"youthful", "zealous", "zen" };

static const char *const id_surnames[] = { "agnesi", "albattani", "allen",
	"archimedes", "babbage", "bardeen", "bell", "bhabha", "blackwell",
	"bohr", "booth", "bose", "brahmagupta", "brattain", "cannon", "carson",
	"cerf", "chandrasekhar", "curie", "darwin", "dijkstra", "einstein",
	"euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin",
	"galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking",
	"heisenberg", "hodgkin", "hopper", "hypatia", "johnson", "kalam",
	"kepler", "knuth", "kowalevski", "lamarr", "leakey", "lovelace",
	"lumiere", "mayer", "mccarthy", "mcclintock", "meitner", "mendel",
	"mirzakhani", "morse", "newton", "nobel", "noether", "pasteur", "payne",
	"perlman", "pike", "poincare", "ramanujan", "ritchie", "sammet",
	"shannon", "shockley", "sinoussi", "tesla", "thompson", "torvalds",
	"turing", "wilson", "wozniak", "wright", "yalow", "yonath" };

#define ID_NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
id_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = getrandom(p, len, 0)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Uniform in [0, n) without modulo bias. */
static size_t
id_uniform(size_t n)
{
	unsigned int r, limit = (unsigned int)(-(unsigned int)n % n);

	do
		id_random(&r, sizeof(r));
	while (r < limit);
	return r % n;
}

void
id_new(char out[65])
{
	unsigned char raw[32];

	/* Docker re-rolls ids that parse as a number (all digits). */
	do {
		id_random(raw, sizeof(raw));
		str_hex(out, raw, sizeof(raw));
	} while (strspn(out, "0123456789") == 64);
}

char *
id_random_name(int retry)
{
	const char *l = id_adjectives[id_uniform(ID_NELEM(id_adjectives))];
	const char *r = id_surnames[id_uniform(ID_NELEM(id_surnames))];

	/* "boring" is left out of the list, so moby's "Steve Wozniak is
	 * not boring" re-roll is not needed. */
	if (retry > 0)
		return xasprintf("%s_%s%zu", l, r, id_uniform(10));
	return xasprintf("%s_%s", l, r);
}

char *
id_pick_name(
    const char *id, int (*taken)(const char *name, void *arg), void *arg)
{
	char *name;

	/* moby's generateNewName: a few random tries (a digit appended after
	 * the first), then the short id, so the search always ends however
	 * many of the combinations are in use. */
	for (int i = 0; i < ID_NAME_TRIES; i++) {
		name = id_random_name(i);
		if (!taken(name, arg))
			return name;
		free(name);
	}
	name = xasprintf("%.12s", id);
	if (!taken(name, arg))
		return name;
	free(name);
	/* Someone named a container after this id's prefix. */
	name = xstrdup(id);
	if (!taken(name, arg))
		return name;
	free(name);
	return NULL;
}

static int
id_name_char(int c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '_' || c == '.' || c == '-');
}

int
id_valid_name(const char *name, struct err *e)
{
	const char *p = name;

	if (p != NULL && *p == '/')
		p++;
	/* [a-zA-Z0-9][a-zA-Z0-9_.-]+: at least two characters. */
	if (p == NULL || !id_name_char((unsigned char)p[0], 1) || p[1] == '\0')
		goto bad;
	for (p++; *p != '\0'; p++)
		if (!id_name_char((unsigned char)*p, 0))
			goto bad;
	return 0;
bad:
	return err_set(e, 400,
	    "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
	    "allowed",
	    name != NULL ? name : "");
}
