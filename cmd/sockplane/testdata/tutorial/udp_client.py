# The tutorial's UDP client (section 八, "基于UDP的套接字"), for a sockplane
# listener with transport TRANSPORT_UDP, handler HANDLER_UPPER and
# FRAMING_RAW both ways: one datagram is one message.
#
# Its calls are the tutorial's, in the tutorial's order, on purpose:
# sendto of the bare text, recvfrom(1024) for the reply. Like the
# tutorial's, it does not skip empty input: an empty datagram is still a
# datagram, which the server receives and answers (section 九, 3). It keeps
# the tutorial's weakness too: a lost datagram would leave recvfrom waiting
# for ever (the test bounds it); on loopback none is lost.
#
# Two changes for the test: host and port come from argv instead of
# ("127.0.0.1", 8080), and the input() loop ends at the end of stdin (the
# test pipes the lines in and closes it); the prompt text is kept.
import socket
import sys

UDP_client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client_IP_port = (sys.argv[1], int(sys.argv[2]))
while True:  # communication loop
    try:
        inp = input(">>>:").strip()
    except EOFError:
        break
    UDP_client.sendto(inp.encode("utf-8"), client_IP_port)
    data, server_addr = UDP_client.recvfrom(1024)
    print(data.decode("utf-8"))
