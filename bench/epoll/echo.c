/*
 * E: a hand-tuned single-threaded epoll echo server of sockplane's framed
 * protocol, the C reference of issue 15 (bench/runner starts it pinned to
 * the server CPU, like B).
 *
 * A frame is a 4-byte little-endian header length, a JSON header holding
 * "data_size": N, then N body bytes; the echo is the same body behind the
 * header {"data_size": N}.
 *
 *   epoll-echo [host:port]     (default 127.0.0.1:0)
 *
 * It prints the bound address ("127.0.0.1:PORT") on a line of its own on
 * stdout, the way bench/baseline does, and serves until it is killed.
 *
 * Design, for the least work per message:
 * - Level-triggered epoll. One read per readiness report, into the free
 *   space of the connection's buffer: with level triggering a connection
 *   that still has bytes is reported again on the next epoll_wait, so no
 *   read is spent only to learn EAGAIN (edge triggering would need one per
 *   wake-up), and one busy connection cannot starve the others.
 * - A buffer per connection that grows by doubling, but only when it is
 *   full and the frame in it is larger than it: a declared size never
 *   allocates more than twice what has arrived, and never past a whole
 *   frame of at most MAX_BODY + MAX_HEADER + 4 bytes.
 * - Every complete frame of a read is answered into one output buffer and
 *   sent with one write. If the socket takes less, the rest waits for
 *   EPOLLOUT and the connection is not read meanwhile (backpressure: the
 *   output never grows past one read's answers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockaddr.h"

#define MAX_HEADER (64u << 10)   /* a JSON header longer than this is junk */
#define MAX_BODY (64u << 20)     /* the protocol's largest body */
#define INITIAL_BUF (16u << 10)  /* holds many 64 B frames per read */
#define MAX_EVENTS 256
#define ECHO_HEADER_MAX 48       /* 4 + len("{\"data_size\": 67108864}") with room */

struct conn {
	int fd;
	unsigned char *in;
	size_t in_len, in_cap;
	size_t want; /* total size of the frame begun in in, once known */
	unsigned char *out;
	size_t out_off, out_len, out_cap;
};

static int ep;
static struct conn listener_tag; /* its address marks the listener's events */

static void conn_close(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	free(c->in);
	free(c->out);
	free(c);
}

/* ensure_out makes room for n more bytes of output. */
static int ensure_out(struct conn *c, size_t n)
{
	size_t need = c->out_len + n, cap = c->out_cap ? c->out_cap : INITIAL_BUF;
	if (need <= c->out_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	unsigned char *p = realloc(c->out, cap);
	if (!p)
		return -1;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

/*
 * parse_size reads the integer after "data_size" in the header h[0:n].
 * It returns 0 and sets *size, or -1 for a header without one, or with a
 * negative, non-numeric or too large one.
 */
static int parse_size(const unsigned char *h, size_t n, uint32_t *size)
{
	static const char key[] = "\"data_size\"";
	const unsigned char *p = memmem(h, n, key, sizeof key - 1), *end = h + n;
	if (!p)
		return -1;
	p += sizeof key - 1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p == end || *p++ != ':')
		return -1;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	uint64_t v = 0;
	const unsigned char *digits = p;
	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p++ - '0');
		if (v > MAX_BODY)
			return -1;
	}
	if (p == digits)
		return -1;
	*size = (uint32_t)v;
	return 0;
}

/* put_echo_header writes 4-byte length + {"data_size": n} at dst; returns its length. */
static size_t put_echo_header(unsigned char *dst, uint32_t n)
{
	char digits[16];
	int nd = 0;
	do {
		digits[nd++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	static const char pre[] = "{\"data_size\": ";
	unsigned char *p = dst + 4;
	memcpy(p, pre, sizeof pre - 1);
	p += sizeof pre - 1;
	while (nd)
		*p++ = (unsigned char)digits[--nd];
	*p++ = '}';
	uint32_t hl = (uint32_t)(p - dst - 4);
	dst[0] = (unsigned char)hl;
	dst[1] = (unsigned char)(hl >> 8);
	dst[2] = (unsigned char)(hl >> 16);
	dst[3] = (unsigned char)(hl >> 24);
	return (size_t)(p - dst);
}

/*
 * answer appends the echo of every complete frame in c->in to c->out and
 * keeps the incomplete rest at the start of c->in. It returns the total
 * size of the frame the rest begins (0 if not known yet), or -1 for junk.
 */
static long answer(struct conn *c)
{
	size_t off = 0;
	long want = 0;
	while (c->in_len - off >= 4) {
		const unsigned char *f = c->in + off;
		uint32_t hl = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24;
		if (hl == 0 || hl > MAX_HEADER)
			return -1;
		if (c->in_len - off < 4 + (size_t)hl) {
			want = (long)(4 + hl);
			break;
		}
		uint32_t n;
		if (parse_size(f + 4, hl, &n) < 0)
			return -1;
		size_t total = 4 + (size_t)hl + n;
		if (c->in_len - off < total) {
			want = (long)total;
			break;
		}
		if (ensure_out(c, ECHO_HEADER_MAX + n) < 0)
			return -1;
		c->out_len += put_echo_header(c->out + c->out_len, n);
		memcpy(c->out + c->out_len, f + 4 + hl, n);
		c->out_len += n;
		off += total;
	}
	if (off > 0) {
		c->in_len -= off;
		memmove(c->in, c->in + off, c->in_len);
	}
	return want;
}

/* set_events switches between reading (EPOLLIN) and draining (EPOLLOUT). */
static int set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* flush writes pending output once; 1 if some is left, 0 if none, -1 on error. */
static int flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -1;
		}
		c->out_off += (size_t)w;
		/* One write per batch; a short one means the socket is full. */
		if (c->out_off < c->out_len)
			return 1;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static void on_readable(struct conn *c)
{
	if (c->in_len == c->in_cap) {
		/*
		 * Full, and answer() left only the start of one frame, of the
		 * size it returned: grow toward it, at most doubling.
		 */
		size_t cap = c->in_cap * 2;
		if (cap > c->want)
			cap = c->want;
		unsigned char *p = cap > c->in_cap ? realloc(c->in, cap) : NULL;
		if (!p) {
			conn_close(c); /* no memory, or a frame that cannot be */
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		conn_close(c); /* EOF or error */
		return;
	}
	c->in_len += (size_t)r;
	long want = answer(c);
	if (want < 0) {
		conn_close(c);
		return;
	}
	c->want = (size_t)want;
	if (c->out_len == 0)
		return;
	int left = flush(c);
	if (left < 0 || (left > 0 && set_events(c, EPOLLOUT) < 0))
		conn_close(c);
}

static void on_writable(struct conn *c)
{
	int left = flush(c);
	if (left < 0 || (left == 0 && set_events(c, EPOLLIN) < 0))
		conn_close(c);
}

static void on_accept(int lfd)
{
	for (int fd; (fd = accept_next(lfd)) >= 0;) {
		struct conn *c = calloc(1, sizeof *c);
		if (c)
			c->in = malloc(INITIAL_BUF);
		if (!c || !c->in) {
			if (c)
				free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->in_cap = INITIAL_BUF;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
			conn_close(c);
	}
}

int main(int argc, char **argv)
{
	int lfd = bind_on("epoll-echo", argc > 1 ? argv[1] : "127.0.0.1:0", SOCK_STREAM | SOCK_NONBLOCK);
	ep = epoll_with(lfd, &listener_tag);
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = wait_events(ep, evs, MAX_EVENTS);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == &listener_tag) {
				on_accept(lfd);
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				on_writable(c);
			else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c);
		}
	}
}
