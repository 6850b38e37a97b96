# The tutorial's concurrent servers (socketserver, section "基于多线程的并发"):
# ThreadingTCPServer and ThreadingUDPServer with a BaseRequestHandler whose
# handle() is the communication loop, made to speak the JSON-header framing
# of the tutorial's section 十 for echo: struct.pack("i", len(head)), the
# JSON head {"data_size": n}, then the n bytes. It is the "P" of
# bench/run.sh and docs/PERFORMANCE.md.
#
# Kept the tutorial's way on purpose (one thread per connection, or per
# datagram for UDP; recv loops; json.dumps for the head), with three
# changes, each in the server's favour or needed to run unattended:
#   - no print() of every message and no input() (the tutorial's UDP server
#     asks the operator for each reply): the reply is the received body;
#   - the reply goes out in one sendall(head + body) where the tutorial
#     calls send() three times: with Nagle's algorithm on, three small
#     sends per reply meet the client's delayed ACK and stall for tens of
#     milliseconds, which would measure TCP, not the server;
#   - it binds port 0 and prints the port it got, so the benchmark finds it,
#     and listens with a backlog of 1024, not 5, so the 1,000-connection
#     load can connect at once.
#
#   python3 tutorial_server.py tcp|udp [HOST]
import json
import socketserver
import struct
import sys


def recv_exact(sock, n):  # TCP is a stream: loop until n bytes are in
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("closed in the middle of a frame")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class EchoTCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        while True:  # communication loop
            try:
                head_len = struct.unpack("i", recv_exact(conn, 4))[0]
                head_dic = json.loads(recv_exact(conn, head_len).decode("utf-8"))
                data = recv_exact(conn, head_dic["data_size"])
            except (ConnectionError, OSError, ValueError, KeyError, struct.error):
                break
            head_bytes = json.dumps({"data_size": len(data)}).encode("utf-8")
            conn.sendall(struct.pack("i", len(head_bytes)) + head_bytes + data)


class EchoUDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request  # one datagram holds one frame
        try:
            head_len = struct.unpack("i", data[:4])[0]
            head_dic = json.loads(data[4 : 4 + head_len].decode("utf-8"))
            body = data[4 + head_len :]
            if len(body) != head_dic["data_size"]:
                return
        except (ValueError, KeyError, struct.error):
            return
        head_bytes = json.dumps({"data_size": len(body)}).encode("utf-8")
        sock.sendto(struct.pack("i", len(head_bytes)) + head_bytes + body, self.client_address)


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024  # the 1,000-connection load connects at once


if __name__ == "__main__":
    kind = sys.argv[1]
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    if kind == "tcp":
        server = TCPServer((host, 0), EchoTCPHandler)
    elif kind == "udp":
        server = socketserver.ThreadingUDPServer((host, 0), EchoUDPHandler)
    else:
        sys.exit("usage: tutorial_server.py tcp|udp [HOST]")
    print("%s:%d" % server.server_address[:2], flush=True)
    server.serve_forever()
