# The tutorial's fixed-length-header client (section 十, 2.3, the client of
# the command server that sends struct.pack("i", data_size) and then the
# data), for a sockplane listener with handler HANDLER_EXEC, request
# framing FRAMING_RAW and response framing FRAMING_LENGTH_PREFIXED.
#
# Its calls are the tutorial's, in the tutorial's order, on purpose: one
# send of the bare command, recv(4) for the header, struct.unpack("i"),
# then recv(1024) until data_size bytes are in. That is the client people
# write while they learn sockets, and sockplane must serve it as it is. It
# keeps the tutorial's weaknesses too: recv(4) may in theory return fewer
# than 4 bytes (fine on loopback), and a connection closed in the middle
# of the data would make the loop spin (the test bounds it).
#
# Two changes for the test: host and port come from argv instead of
# ("127.0.0.1", 8080), and the input() loop ends at the end of stdin (the
# test pipes the lines in and closes it); the prompt text is kept.
import socket
import struct
import sys

phone = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
IP_port = (sys.argv[1], int(sys.argv[2]))
phone.connect(IP_port)
while True:
    try:
        cmd = input(">>>:").strip()
    except EOFError:
        break
    if not cmd: continue
    phone.send(bytes(cmd, encoding="utf-8"))
    # receive the header
    header = phone.recv(4)
    data_size = struct.unpack("i", header)[0]
    # receive the data
    recv_size = 0
    recv_data = b''
    while recv_size < data_size:
        data = phone.recv(1024)
        recv_size += len(data)
        recv_data += data
    print(recv_data.decode("utf-8"))
phone.close()
