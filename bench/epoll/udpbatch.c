/*
 * W: a hand-tuned single-threaded UDP echo that reads and answers in
 * batches (recvmmsg/sendmmsg), the C reference of issue 15's datagram
 * row: how far batching can take a server past the bare
 * ReadFrom/WriteTo loop on the same load. bench/runner starts it pinned to
 * the server CPU like the bare loop.
 *
 *   epoll-udpbatch [host:port]     (default 127.0.0.1:0, IPv4)
 *
 * It prints the bound address ("127.0.0.1:PORT") on a line of its own on
 * stdout, the way bench/baseline does, and echoes until it is killed.
 *
 * Like the bare loop, it sends every datagram back unchanged (for the
 * framed echo of 64 B bodies the reply is the request's bytes), so the
 * two differ only in the batching:
 * - one blocking recvmmsg takes every datagram waiting, up to BATCH
 *   (MSG_WAITFORONE: it waits for the first, then takes what is there);
 * - one sendmmsg answers them all, each to its sender.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockaddr.h"

#define BATCH 64
#define DGRAM 2048 /* the load's datagrams are 4 + ~20 + 64 bytes; a longer one is echoed cut short */

int main(int argc, char **argv)
{
	int fd = bind_on("epoll-udpbatch", argc > 1 ? argv[1] : "127.0.0.1:0", SOCK_DGRAM);
	static unsigned char bufs[BATCH][DGRAM];
	static struct sockaddr_in addrs[BATCH];
	static struct iovec iov[BATCH];
	static struct mmsghdr msgs[BATCH];
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = DGRAM};
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &addrs[i], .msg_namelen = sizeof addrs[i], .msg_iov = &iov[i], .msg_iovlen = 1};
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recvmmsg");
		}
		for (int i = 0; i < n; i++)
			iov[i].iov_len = msgs[i].msg_len; /* send back what came */
		for (int done = 0; done < n;) {
			int m = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
			if (m < 0) {
				if (errno == EINTR)
					continue;
				done++; /* this datagram's send failed: skip it, answer the rest */
				continue;
			}
			done += m;
		}
	}
}
