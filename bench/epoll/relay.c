/*
 * Y: a hand-tuned single-threaded epoll TCP relay, the C reference of the
 * proxy rows (issue 13): what relaying bytes costs on this machine when
 * nothing but the relay runs in the process. bench/runner starts it pinned
 * to the server CPU in front of the same echo upstream as sockplane's
 * proxy listener and Toxiproxy.
 *
 *   epoll-relay LISTEN UPSTREAM     (both host:port, IPv4; LISTEN may use port 0)
 *
 * It prints the bound address ("127.0.0.1:PORT") on a line of its own on
 * stdout, the way bench/baseline does, and relays until it is killed.
 *
 * Design, for the least work per relayed read:
 * - Each accepted connection gets its own upstream connection. The
 *   connect is blocking (the loads measure the steady state, never the
 *   set-up); both sockets are then non-blocking.
 * - Level-triggered epoll, one read per readiness report, written to the
 *   other socket at once: a read is never spent only to learn EAGAIN, and
 *   a busy connection cannot starve the others.
 * - What the other socket does not take waits in the reading side's
 *   buffer; that side is not read again until it is gone (backpressure,
 *   one buffer per direction, never growing).
 * - A FIN is passed on as shutdown(SHUT_WR) once the bytes before it are
 *   written; the pair closes when both directions have ended, or on the
 *   first error either way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define BUF (64u << 10) /* per direction: as much as a 1 MiB load's socket gives per read */
#define MAX_EVENTS 256

struct pair;

/* side is one socket of a pair and the bytes read from it that its peer
 * has not taken yet. */
struct side {
	int fd;
	int eof;           /* read returned 0 */
	uint32_t events;   /* what the epoll set asks for now */
	unsigned char *buf;
	size_t off, len;   /* pending bytes for the peer */
	struct side *peer;
	struct pair *pair;
};

struct pair {
	struct side client, upstream;
	int closed;
	struct pair *next_dead;
};

static int ep;
static struct sockaddr_in upstream_addr;
static int listener_tag; /* its address marks the listener's events */
static struct pair *dead; /* closed in this batch, freed after it */

static void pair_close(struct pair *p)
{
	if (p->closed)
		return;
	p->closed = 1;
	close(p->client.fd); /* also removes it from the epoll set */
	close(p->upstream.fd);
	p->next_dead = dead; /* other events of this batch may still name p */
	dead = p;
}

/* want is what side s needs from epoll: readable while nothing it read
 * waits for its peer, writable while its peer's bytes wait for it. */
static uint32_t want(const struct side *s)
{
	uint32_t e = 0;
	if (!s->eof && s->len == 0)
		e |= EPOLLIN;
	if (s->peer->len > 0)
		e |= EPOLLOUT;
	return e;
}

static int update(struct side *s)
{
	uint32_t e = want(s);
	if (e == s->events)
		return 0;
	struct epoll_event ev = {.events = e, .data.ptr = s};
	s->events = e;
	return epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* finish ends the pair once both directions are done. */
static void finish(struct pair *p)
{
	if (p->client.eof && p->upstream.eof && p->client.len == 0 && p->upstream.len == 0)
		pair_close(p);
}

/* send_pending writes what src read to its peer; -1 on a socket error. */
static int send_pending(struct side *src)
{
	while (src->len > 0) {
		ssize_t w = write(src->peer->fd, src->buf + src->off, src->len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		src->off += (size_t)w;
		src->len -= (size_t)w;
	}
	src->off = 0;
	if (src->eof && shutdown(src->peer->fd, SHUT_WR) < 0 && errno != ENOTCONN)
		return -1;
	return 0;
}

static int on_readable(struct side *s)
{
	ssize_t r = read(s->fd, s->buf, BUF);
	if (r < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	if (r == 0)
		s->eof = 1;
	s->off = 0;
	s->len = (size_t)r;
	return send_pending(s);
}

static void on_event(struct side *s, uint32_t events)
{
	struct pair *p = s->pair;
	if (p->closed)
		return;
	/* An error, or a hang-up of a side already read to its end: nothing
	 * more can pass through s, and level triggering would report it again
	 * on every wait. */
	if ((events & EPOLLERR) || ((events & EPOLLHUP) && s->eof))
		goto fail;
	if ((events & EPOLLOUT) && send_pending(s->peer) < 0)
		goto fail;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->eof && s->len == 0 && on_readable(s) < 0)
		goto fail;
	finish(p);
	if (!p->closed && (update(s) < 0 || update(s->peer) < 0))
		goto fail;
	return;
fail:
	pair_close(p);
}

static int side_init(struct pair *p, struct side *s, struct side *peer, int fd)
{
	s->fd = fd;
	s->peer = peer;
	s->pair = p;
	s->buf = malloc(BUF);
	s->events = EPOLLIN;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
	return (s->buf && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) ? 0 : -1;
}

static int dial_upstream(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&upstream_addr, sizeof upstream_addr) < 0) {
		perror("connect upstream");
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void on_accept(int lfd)
{
	for (int fd; (fd = accept_next(lfd)) >= 0;) {
		int up = dial_upstream();
		struct pair *p = up < 0 ? NULL : calloc(1, sizeof *p);
		if (!p) {
			close(fd);
			if (up >= 0)
				close(up);
			continue;
		}
		if (side_init(p, &p->client, &p->upstream, fd) < 0 ||
		    side_init(p, &p->upstream, &p->client, up) < 0) {
			p->client.fd = fd;
			p->upstream.fd = up;
			pair_close(p);
		}
	}
}

static void free_dead(void)
{
	while (dead) {
		struct pair *p = dead;
		dead = p->next_dead;
		free(p->client.buf);
		free(p->upstream.buf);
		free(p);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: epoll-relay LISTEN UPSTREAM\n");
		return 2;
	}
	parse_ipv4("epoll-relay", argv[2], &upstream_addr);
	signal(SIGPIPE, SIG_IGN); /* a write to a reset peer is an error, not a death */
	int lfd = bind_on("epoll-relay", argv[1], SOCK_STREAM | SOCK_NONBLOCK);
	ep = epoll_with(lfd, &listener_tag);
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = wait_events(ep, evs, MAX_EVENTS);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &listener_tag)
				on_accept(lfd);
			else
				on_event(evs[i].data.ptr, evs[i].events);
		}
		free_dead();
	}
}
