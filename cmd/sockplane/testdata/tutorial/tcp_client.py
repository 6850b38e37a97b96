# coding:utf-8
# The tutorial's looping TCP client (section 七, "基于TCP的套接字", the client
# of the server that upper-cases what it receives), for a sockplane listener
# with handler HANDLER_UPPER and FRAMING_RAW both ways.
#
# Its calls are the tutorial's, in the tutorial's order, on purpose: one
# send of the bare text, one recv(1024) for the reply. That is the client
# people write while they learn sockets, and sockplane must serve it as it
# is. It keeps the tutorial's weakness too: recv(1024) returns whatever has
# arrived, which on a stream could be part of a reply, or more than one;
# on loopback, one short request at a time, it is the whole reply.
#
# Two changes for the test: host and port come from argv instead of
# ("127.0.0.1", 8080), and the input() loop ends at the end of stdin (the
# test pipes the lines in and closes it); the prompt text is kept.
import socket
import sys

phone = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # based on TCP/IP
phone.connect((sys.argv[1], int(sys.argv[2])))  # dial
while True:  # communication loop
    try:
        inp = input(">>>:").strip()
    except EOFError:
        break
    if not inp: continue
    phone.send(inp.encode("utf-8"))  # bytes to the server
    data = phone.recv(1024)  # the server's reply
    print(data.decode("utf-8"))
phone.close()
