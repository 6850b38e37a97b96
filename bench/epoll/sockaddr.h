/*
 * What the C references of bench/epoll share: parsing an IPv4 host:port,
 * binding the socket they serve on, whose address they print on a line
 * of its own on stdout, the way bench/baseline does, for the runner; and
 * the epoll set a listening socket starts.
 */
#ifndef SOCKPLANE_BENCH_SOCKADDR_H
#define SOCKPLANE_BENCH_SOCKADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static inline void die(const char *what)
{
	perror(what);
	exit(1);
}

/* parse_ipv4 reads spec, an IPv4 host:port, into sa; prog names the
 * program in the message when it is not one. */
static inline void parse_ipv4(const char *prog, const char *spec, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof host) {
		fprintf(stderr, "%s: address %s: want host:port\n", prog, spec);
		exit(2);
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		fprintf(stderr, "%s: address %s: want an IPv4 host\n", prog, spec);
		exit(2);
	}
}

/* bind_on binds a socket of type (SOCK_STREAM, listening, or
 * SOCK_DGRAM, with any SOCK_ flags) to spec, prints the address it got
 * and returns the socket. */
static inline int bind_on(const char *prog, const char *spec, int type)
{
	struct sockaddr_in sa;
	parse_ipv4(prog, spec, &sa);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if ((type & 0xf) == SOCK_STREAM && listen(fd, 4096) < 0) /* 0xf: the type without its SOCK_ flags */
		die("listen");
	socklen_t sl = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		die("getsockname");
	char buf[INET_ADDRSTRLEN];
	printf("%s:%u\n", inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf), ntohs(sa.sin_port));
	fflush(stdout); /* stdout is a pipe to the runner: send the line now */
	return fd;
}

/* epoll_with makes an epoll set holding the listening socket lfd, whose
 * events carry tag. */
static inline int epoll_with(int lfd, void *tag)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = tag};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) < 0)
		die("epoll_ctl");
	return ep;
}

/* wait_events is epoll_wait with no timeout that retries on EINTR. */
static inline int wait_events(int ep, struct epoll_event *evs, int max)
{
	for (;;) {
		int n = epoll_wait(ep, evs, max, -1);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			die("epoll_wait");
	}
}

/* accept_next accepts the next connection of the non-blocking listening
 * socket lfd, non-blocking and with TCP_NODELAY (as Go sets on every TCP
 * connection), or returns -1 when none is waiting. */
static inline int accept_next(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			return fd;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			perror("accept4"); /* e.g. EMFILE: the next wake-up retries */
		return -1;
	}
}

#endif
