/* top and stats: ps -ef and cgroup figures read from /proc and /sys. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "modules.h"

#define PROCINFO_FILE_MAX (1 << 20)

/*
 * Reads a whole small file (NUL-terminated, *lenp its length); NULL when it
 * cannot be read. The caller frees it.
 */
static char *
procinfo_slurp(const char *path, size_t *lenp)
{
	char *buf;
	size_t len = 0, cap = 4096;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= PROCINFO_FILE_MAX)
				break;
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

/* The first number in a file; -1 when missing or not a number. */
static int64_t
procinfo_read_num(const char *path)
{
	char *s;
	char *end;
	unsigned long long v;

	if ((s = procinfo_slurp(path, NULL)) == NULL)
		return -1;
	v = strtoull(s, &end, 10);
	if (end == s) {
		free(s);
		return -1;
	}
	free(s);
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* The value of "key N" (or "key: N") in a key/value file; -1 if absent. */
static int64_t
procinfo_read_key(const char *path, const char *key)
{
	char *s, *p;
	size_t klen = strlen(key);
	int64_t v = -1;

	if ((s = procinfo_slurp(path, NULL)) == NULL)
		return -1;
	for (p = s; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, key, klen) == 0 &&
		    (p[klen] == ' ' || p[klen] == ':' || p[klen] == '\t')) {
			v = (int64_t)strtoull(p + klen + 1, NULL, 10);
			break;
		}
	}
	free(s);
	return v;
}

static long
procinfo_hz(void)
{
	long hz = sysconf(_SC_CLK_TCK);

	return hz > 0 ? hz : 100;
}

/* One process, as /proc/PID/stat and status describe it. */
struct procinfo_proc {
	int pid, ppid;
	unsigned uid;
	unsigned long long utime, stime, starttime, rss;
	int tty_nr;
	char comm[64];
};

static int
procinfo_read_proc(int pid, struct procinfo_proc *pr)
{
	char path[64], *s, *open, *close, *p;
	unsigned long long f[24];
	int i;

	memset(pr, 0, sizeof(*pr));
	pr->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((s = procinfo_slurp(path, NULL)) == NULL)
		return -1;
	/* comm may hold spaces and parentheses: it ends at the last ')'. */
	if ((open = strchr(s, '(')) == NULL ||
	    (close = strrchr(s, ')')) == NULL || close < open) {
		free(s);
		return -1;
	}
	snprintf(pr->comm, sizeof(pr->comm), "%.*s", (int)(close - open - 1),
	    open + 1);
	/* Fields from 3 (state) on; f[0] is ppid (field 4). */
	p = close + 2;
	while (*p != '\0' && *p != ' ')
		p++;
	for (i = 0; i < 24; i++) {
		char *end;
		f[i] = (unsigned long long)strtoll(p, &end, 10);
		if (end == p)
			break;
		p = end;
	}
	free(s);
	if (i < 21)
		return -1;
	pr->ppid = (int)f[0];
	pr->tty_nr = (int)f[3];
	pr->utime = f[10];
	pr->stime = f[11];
	pr->starttime = f[18];
	pr->rss = f[20];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((s = procinfo_slurp(path, NULL)) != NULL) {
		/* "Uid: real effective saved fs": ps -f shows the effective. */
		if ((p = strstr(s, "\nUid:")) != NULL) {
			unsigned long real = strtoul(p + 5, &p, 10);
			pr->uid = (unsigned)strtoul(p, NULL, 10);
			(void)real;
		}
		free(s);
	}
	return 0;
}

/* The numeric entries of /proc, ascending. *np is their count. */
static int *
procinfo_pids(size_t *np)
{
	DIR *d;
	struct dirent *de;
	int *pids = NULL;
	size_t n = 0, cap = 0;
	char *end;
	long v;

	*np = 0;
	if ((d = opendir("/proc")) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		v = strtol(de->d_name, &end, 10);
		if (*end != '\0' || v <= 0 || v > 0x7fffffff)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			pids = xrealloc(pids, cap * sizeof(*pids));
		}
		pids[n++] = (int)v;
	}
	closedir(d);
	*np = n;
	return pids;
}

static int
procinfo_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The name of uid from a copy of /etc/passwd, or its number. */
static void
procinfo_user(const char *passwd, unsigned uid, char *out, size_t outsz)
{
	const char *line, *c1, *c2, *c3;
	char *end;

	snprintf(out, outsz, "%u", uid);
	for (line = passwd; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n');
		c1 = memchr(line, ':', nl ? (size_t)(nl - line) : strlen(line));
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		c3 = c2 ? c2 + 1 : NULL;
		if (c3 != NULL && (nl == NULL || c3 < nl) &&
		    isdigit((unsigned char)*c3) &&
		    strtoul(c3, &end, 10) == uid && *end == ':') {
			snprintf(out, outsz, "%.*s", (int)(c1 - line), line);
			return;
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* ps's STIME: HH:MM today, MonDD this year, else the year. */
static void
procinfo_stime(time_t start, time_t now, char *out, size_t outsz)
{
	struct tm ts, tn;

	localtime_r(&start, &ts);
	localtime_r(&now, &tn);
	if (now - start < (time_t)24 * 3600 && ts.tm_yday == tn.tm_yday &&
	    ts.tm_year == tn.tm_year)
		strftime(out, outsz, "%H:%M", &ts);
	else if (ts.tm_year == tn.tm_year)
		strftime(out, outsz, "%b%d", &ts);
	else
		strftime(out, outsz, "%Y", &ts);
}

static void
procinfo_tty(int tty_nr, char *out, size_t outsz)
{
	unsigned major = ((unsigned)tty_nr >> 8) & 0xfff;
	unsigned minor =
	    ((unsigned)tty_nr & 0xff) | (((unsigned)tty_nr >> 12) & 0xfff00);

	snprintf(out, outsz, "?");
	if (tty_nr == 0)
		return;
	if (major >= 136 && major <= 143)
		snprintf(out, outsz, "pts/%u", minor + (major - 136) * 256);
	else if (major == 4 && minor < 64)
		snprintf(out, outsz, "tty%u", minor);
	else if (major == 4)
		snprintf(out, outsz, "ttyS%u", minor - 64);
}

static void
procinfo_cputime(unsigned long long secs, char *out, size_t outsz)
{
	unsigned long long d = secs / 86400;

	secs %= 86400;
	if (d > 0)
		snprintf(out, outsz, "%llu-%02llu:%02llu:%02llu", d,
		    secs / 3600, secs / 60 % 60, secs % 60);
	else
		snprintf(out, outsz, "%02llu:%02llu:%02llu", secs / 3600,
		    secs / 60 % 60, secs % 60);
}

/* The command line joined by spaces, or [comm] when it is empty. */
static void
procinfo_cmd(struct jsonw *w, const struct procinfo_proc *pr)
{
	char path[64], *s, alt[80];
	size_t len = 0, i;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pr->pid);
	s = procinfo_slurp(path, &len);
	while (s != NULL && len > 0 && s[len - 1] == '\0')
		len--;
	if (s == NULL || len == 0) {
		snprintf(alt, sizeof(alt), "[%s]", pr->comm);
		jsonw_str(w, alt, strlen(alt));
	} else {
		for (i = 0; i < len; i++)
			if (s[i] == '\0')
				s[i] = ' ';
		jsonw_str(w, s, len);
	}
	free(s);
}

/*
 * Whether ps_args asks for ps -ef's listing ("-ef", "-e -f", "-A -f"...),
 * the only one the agent makes: it has no ps to run, and other columns
 * would be a different table under the same titles.
 */
static int
top_args_ok(const char *args)
{
	int every = 0, full = 0;
	const char *p = args;

	while (*p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (*p++ != '-')
			return 0;
		for (; *p != '\0' && *p != ' '; p++) {
			if (*p == 'e' || *p == 'A')
				every = 1;
			else if (*p == 'f')
				full = 1;
			else
				return 0;
		}
	}
	return every && full;
}

static char *
top_refuse(const char *args)
{
	struct jsonw w;
	char msg[512];

	snprintf(msg, sizeof(msg),
	    "ps_args \"%.200s\" is not supported: the container's processes "
	    "are listed by the Sockerless agent with the columns of ps -ef "
	    "only; leave ps_args out or use -ef",
	    args);
	jsonw_init(&w);
	jsonw_puts(&w, "{\"status\":400,\"message\":");
	jsonw_str(&w, msg, strlen(msg));
	jsonw_puts(&w, "}");
	return jsonw_take(&w);
}

char *
top_json(const char *args)
{
	struct jsonw w;
	struct procinfo_proc pr;
	char *passwd, *stat, *p, buf[64];
	int *pids;
	size_t n, i;
	long hz = procinfo_hz();
	time_t now = time(NULL), btime = 0;
	double uptime = 0;
	unsigned long long total, pcpu;
	int first = 1;
	pid_t self = getpid();

	if (*args != '\0' && !top_args_ok(args))
		return top_refuse(args);
	passwd = procinfo_slurp("/etc/passwd", NULL);
	if ((stat = procinfo_slurp("/proc/stat", NULL)) != NULL) {
		if ((p = strstr(stat, "\nbtime ")) != NULL)
			btime = (time_t)strtoll(p + 7, NULL, 10);
		free(stat);
	}
	if ((stat = procinfo_slurp("/proc/uptime", NULL)) != NULL) {
		uptime = strtod(stat, NULL);
		free(stat);
	}
	jsonw_init(&w);
	jsonw_puts(&w,
	    "{\"Titles\":[\"UID\",\"PID\",\"PPID\",\"C\",\"STIME\","
	    "\"TTY\",\"TIME\",\"CMD\"],\"Processes\":[");
	pids = procinfo_pids(&n);
	if (n > 0)
		qsort(pids, n, sizeof(*pids), procinfo_cmp_int);
	for (i = 0; i < n; i++) {
		double since;
		/* The agent is not the user's process: as dockerd lists the
		 * container's processes and not its shim, it is left out
		 * (its children keep it as their PPID, as dockerd's keep the
		 * shim's). */
		if (pids[i] == self || procinfo_read_proc(pids[i], &pr) == -1)
			continue;
		jsonw_puts(&w, first ? "[" : ",[");
		first = 0;
		procinfo_user(passwd, pr.uid, buf, sizeof(buf));
		jsonw_str(&w, buf, strlen(buf));
		jsonw_printf(&w, ",\"%d\",\"%d\",", pr.pid, pr.ppid);
		/* ps: CPU time over elapsed time since the process started. */
		total = pr.utime + pr.stime;
		since = uptime - (double)pr.starttime / (double)hz;
		pcpu = since > 0 ? (unsigned long long)((double)total * 100.0 /
				       (double)hz / since) :
				   0;
		jsonw_printf(&w, "\"%llu\",", pcpu);
		procinfo_stime(
		    btime + (time_t)(pr.starttime / (unsigned long long)hz),
		    now, buf, sizeof(buf));
		jsonw_str(&w, buf, strlen(buf));
		procinfo_tty(pr.tty_nr, buf, sizeof(buf));
		jsonw_puts(&w, ",");
		jsonw_str(&w, buf, strlen(buf));
		procinfo_cputime(
		    total / (unsigned long long)hz, buf, sizeof(buf));
		jsonw_puts(&w, ",");
		jsonw_str(&w, buf, strlen(buf));
		jsonw_puts(&w, ",");
		procinfo_cmd(&w, &pr);
		jsonw_puts(&w, "]");
	}
	jsonw_puts(&w, "]}");
	free(pids);
	free(passwd);
	return jsonw_take(&w);
}

/*
 * The directory of controller ctrl's cgroup ("" for v2): the process's own
 * path from /proc/self/cgroup below the mount when it exists there (no
 * cgroup namespace, as on a plain host), else the mount itself (a
 * container's cgroup namespace or bind mount).
 */
static void
procinfo_cgdir(const char *ctrl, char *out, size_t outsz)
{
	char *s, *line, *nl, *c1, *c2, cand[512], base[128];
	size_t clen = strlen(ctrl);
	int match;

	if (clen == 0)
		snprintf(base, sizeof(base), "/sys/fs/cgroup");
	else
		snprintf(base, sizeof(base), "/sys/fs/cgroup/%s", ctrl);
	snprintf(out, outsz, "%s", base);
	if ((s = procinfo_slurp("/proc/self/cgroup", NULL)) == NULL)
		return;
	for (line = s; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if ((c1 = strchr(line, ':')) == NULL ||
		    (c2 = strchr(c1 + 1, ':')) == NULL)
			continue;
		*c2 = '\0';
		if (clen == 0) {
			match = c1[1] == '\0';
		} else {
			/* "cpu,cpuacct" lists several controllers. */
			char *t = c1 + 1, *comma;
			match = 0;
			while (t != NULL && !match) {
				comma = strchr(t, ',');
				if ((comma ? (size_t)(comma - t) : strlen(t)) ==
					clen &&
				    strncmp(t, ctrl, clen) == 0)
					match = 1;
				t = comma ? comma + 1 : NULL;
			}
		}
		if (!match || strcmp(c2 + 1, "/") == 0)
			continue;
		snprintf(cand, sizeof(cand), "%s%s", base, c2 + 1);
		if (access(cand, F_OK) == 0)
			snprintf(out, outsz, "%s", cand);
		break;
	}
	free(s);
}

static int64_t
procinfo_cg_num(const char *dir, const char *file)
{
	char path[640];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return procinfo_read_num(path);
}

static int64_t
procinfo_cg_key(const char *dir, const char *file, const char *key)
{
	char path[640];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return procinfo_read_key(path, key);
}

/* "KEY N" lines as JSON members; 0 when the file does not exist. */
static int
procinfo_memstat(struct jsonw *w, const char *dir)
{
	char path[640], *s, *line, *nl, *sp;
	int first = 1;

	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	if ((s = procinfo_slurp(path, NULL)) == NULL)
		return 0;
	jsonw_puts(w, "\"memory_stats\":{");
	for (line = s; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if ((sp = strchr(line, ' ')) == NULL || sp == line ||
		    !isdigit((unsigned char)sp[1]))
			continue;
		if (!first)
			jsonw_puts(w, ",");
		first = 0;
		jsonw_str(w, line, (size_t)(sp - line));
		jsonw_printf(w, ":%llu", strtoull(sp + 1, NULL, 10));
	}
	jsonw_puts(w, "},");
	free(s);
	return 1;
}

struct procinfo_sum {
	uint64_t utime, stime, rss;
	size_t nproc;
};

/* The fallback without cgroup figures: every process of /proc added up. */
static void
procinfo_sum_procs(struct procinfo_sum *sum)
{
	struct procinfo_proc pr;
	int *pids;
	size_t n, i;

	memset(sum, 0, sizeof(*sum));
	pids = procinfo_pids(&n);
	for (i = 0; i < n; i++) {
		if (procinfo_read_proc(pids[i], &pr) == -1)
			continue;
		sum->utime += pr.utime;
		sum->stime += pr.stime;
		sum->rss += pr.rss;
		sum->nproc++;
	}
	free(pids);
}

/* /proc/net/dev, without lo. */
static void
procinfo_net(struct jsonw *w)
{
	char *s, *line, *nl, *colon, *name;
	unsigned long long f[16];
	int first = 1, i;

	jsonw_puts(w, "\"net\":{");
	if ((s = procinfo_slurp("/proc/net/dev", NULL)) == NULL) {
		jsonw_puts(w, "},");
		return;
	}
	for (line = s; line != NULL && *line != '\0'; line = nl) {
		char *p;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		for (name = line; *name == ' '; name++)
			;
		if (*name == '\0' || strcmp(name, "lo") == 0)
			continue;
		p = colon + 1;
		for (i = 0; i < 16; i++)
			f[i] = strtoull(p, &p, 10);
		if (!first)
			jsonw_puts(w, ",");
		first = 0;
		jsonw_str(w, name, strlen(name));
		jsonw_printf(w,
		    ":{\"rx_bytes\":%llu,\"rx_packets\":%llu,\"rx_errors\":%llu,"
		    "\"rx_dropped\":%llu,\"tx_bytes\":%llu,\"tx_packets\":%llu,"
		    "\"tx_errors\":%llu,\"tx_dropped\":%llu}",
		    f[0], f[1], f[2], f[3], f[8], f[9], f[10], f[11]);
	}
	free(s);
	jsonw_puts(w, "},");
}

/* Read and written bytes: io.stat (v2) or blkio's service bytes (v1). */
static void
procinfo_blkio(uint64_t *rd, uint64_t *wr)
{
	char dir[512], path[640], *s, *line, *nl, *p;

	*rd = *wr = 0;
	procinfo_cgdir("", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/io.stat", dir);
	if ((s = procinfo_slurp(path, NULL)) != NULL) {
		for (line = s; line != NULL && *line != '\0'; line = nl) {
			if ((nl = strchr(line, '\n')) != NULL)
				*nl++ = '\0';
			if ((p = strstr(line, " rbytes=")) != NULL)
				*rd += strtoull(p + 8, NULL, 10);
			if ((p = strstr(line, " wbytes=")) != NULL)
				*wr += strtoull(p + 8, NULL, 10);
		}
		free(s);
		return;
	}
	procinfo_cgdir("blkio", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/blkio.throttle.io_service_bytes", dir);
	if ((s = procinfo_slurp(path, NULL)) == NULL) {
		snprintf(path, sizeof(path), "%s/blkio.io_service_bytes", dir);
		s = procinfo_slurp(path, NULL);
	}
	if (s == NULL)
		return;
	for (line = s; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		/* "MAJ:MIN Read N" */
		if ((p = strchr(line, ' ')) == NULL)
			continue;
		if (strncmp(p, " Read ", 6) == 0)
			*rd += strtoull(p + 6, NULL, 10);
		else if (strncmp(p, " Write ", 7) == 0)
			*wr += strtoull(p + 7, NULL, 10);
	}
	free(s);
}

/* The /proc/stat cpu line (user..softirq, as Docker adds it) in ns. */
static uint64_t
procinfo_system_cpu(long hz)
{
	char *s, *p;
	uint64_t sum = 0;
	int i;

	if ((s = procinfo_slurp("/proc/stat", NULL)) == NULL)
		return 0;
	if (strncmp(s, "cpu ", 4) == 0) {
		p = s + 4;
		for (i = 0; i < 7; i++)
			sum += strtoull(p, &p, 10);
	}
	free(s);
	return sum * (1000000000ULL / (uint64_t)hz);
}

static uint64_t
procinfo_pos(int64_t v)
{
	return v < 0 ? 0 : (uint64_t)v;
}

char *
stats_json(void)
{
	struct jsonw w;
	struct procinfo_sum sum;
	char v2[512], cpu1[512], mem1[512], pids1[512], now[48];
	struct timespec ts;
	long hz = procinfo_hz();
	uint64_t tick = 1000000000ULL / (uint64_t)hz, rd, wr;
	int64_t total, user, sys, usage, limit, memtotal, pids;
	long ncpu;
	int have_sum = 0;

	procinfo_cgdir("", v2, sizeof(v2));
	procinfo_cgdir("cpuacct", cpu1, sizeof(cpu1));
	procinfo_cgdir("memory", mem1, sizeof(mem1));
	procinfo_cgdir("pids", pids1, sizeof(pids1));
	memset(&sum, 0, sizeof(sum));

	/* CPU: cpu.stat (v2, microseconds) or cpuacct (v1, ns and ticks). */
	if ((total = procinfo_cg_key(v2, "cpu.stat", "usage_usec")) >= 0) {
		total *= 1000;
		user = procinfo_cg_key(v2, "cpu.stat", "user_usec") * 1000;
		sys = procinfo_cg_key(v2, "cpu.stat", "system_usec") * 1000;
	} else if ((total = procinfo_cg_num(cpu1, "cpuacct.usage")) >= 0) {
		user = procinfo_cg_key(cpu1, "cpuacct.stat", "user");
		sys = procinfo_cg_key(cpu1, "cpuacct.stat", "system");
		user = user < 0 ? 0 : user * (int64_t)tick;
		sys = sys < 0 ? 0 : sys * (int64_t)tick;
	} else {
		procinfo_sum_procs(&sum);
		have_sum = 1;
		user = (int64_t)(sum.utime * tick);
		sys = (int64_t)(sum.stime * tick);
		total = user + sys;
	}

	memtotal = procinfo_read_key("/proc/meminfo", "MemTotal");
	memtotal = memtotal < 0 ? 0 : memtotal * 1024;
	if ((usage = procinfo_cg_num(v2, "memory.current")) >= 0) {
		limit = procinfo_cg_num(v2, "memory.max"); /* "max": -1 */
	} else if ((usage = procinfo_cg_num(mem1, "memory.usage_in_bytes")) >=
	    0) {
		limit = procinfo_cg_num(mem1, "memory.limit_in_bytes");
	} else {
		if (!have_sum)
			procinfo_sum_procs(&sum);
		have_sum = 1;
		usage = (int64_t)(sum.rss * (uint64_t)sysconf(_SC_PAGESIZE));
		limit = -1;
	}
	/* No limit (or v1's near 2^63 stand-in): the host's memory. */
	if (limit <= 0 || (memtotal > 0 && limit > memtotal))
		limit = memtotal;

	if ((pids = procinfo_cg_num(v2, "pids.current")) < 0 &&
	    (pids = procinfo_cg_num(pids1, "pids.current")) < 0) {
		if (!have_sum)
			procinfo_sum_procs(&sum);
		pids = (int64_t)sum.nproc;
	}
	if ((ncpu = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		ncpu = 1;

	clock_gettime(CLOCK_REALTIME, &ts);
	jsonw_time(now, sizeof(now), ts.tv_sec, ts.tv_nsec);
	jsonw_init(&w);
	jsonw_printf(&w,
	    "{\"read\":\"%s\",\"pids\":%" PRIu64 ",\"cpu_total_ns\":%" PRIu64
	    ",\"cpu_user_ns\":%" PRIu64 ",\"cpu_system_ns\":%" PRIu64
	    ",\"system_cpu_ns\":%" PRIu64 ",\"online_cpus\":%ld"
	    ",\"memory_usage\":%" PRIu64 ",\"memory_limit\":%" PRIu64 ",",
	    now, procinfo_pos(pids), procinfo_pos(total), procinfo_pos(user),
	    procinfo_pos(sys), procinfo_system_cpu(hz), ncpu,
	    procinfo_pos(usage), procinfo_pos(limit));
	if (!procinfo_memstat(&w, v2) && !procinfo_memstat(&w, mem1))
		jsonw_puts(&w, "\"memory_stats\":{},");
	procinfo_net(&w);
	procinfo_blkio(&rd, &wr);
	jsonw_printf(&w,
	    "\"blkio\":{\"read_bytes\":%" PRIu64 ",\"write_bytes\":%" PRIu64
	    "}}",
	    rd, wr);
	return jsonw_take(&w);
}
