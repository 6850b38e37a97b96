# coding:utf-8
# The tutorial's JSON-header client (section 十, the header written as a
# dict: struct.pack("i", len(head_json)), the JSON head, the data), for a
# sockplane listener with handler HANDLER_EXEC, request framing FRAMING_RAW
# and response framing FRAMING_JSON_HEADER: exactly the tutorial's command
# server, without its shell.
#
# Its calls are the tutorial's, in the tutorial's order, on purpose: one
# send of the bare command; recv(4) and struct.unpack("i") for the head's
# length; the head read with one recv(head_len), decoded, json.loads'ed and
# printed; then recv(1024) until data_size bytes are in. That is the client
# people write while they learn sockets, and sockplane must serve it as it
# is. It keeps the tutorial's weaknesses too: recv(4) and recv(head_len)
# may in theory return fewer bytes than asked (fine on loopback), and a
# connection closed in the middle of the data would make the loop spin
# (the test bounds it).
#
# Two changes for the test: host and port come from argv instead of
# ("127.0.0.1", 8080), and the input() loop ends at the end of stdin (the
# test pipes the lines in and closes it); the prompt text is kept.
import socket
import struct
import json
import sys

phone = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # a TCP socket
IP_port = (sys.argv[1], int(sys.argv[2]))  # the server's address
phone.connect(IP_port)  # connect to the server
# communication loop
while True:
    # send a message
    try:
        cmd = input(">>>:").strip()
    except EOFError:
        break
    if not cmd: continue
    phone.send(bytes(cmd, encoding="utf-8"))
    # part1: the head's length
    head_struct = phone.recv(4)
    head_len = struct.unpack("i", head_struct)[0]
    # part2: the head
    head_bytes = phone.recv(head_len)
    head_json = head_bytes.decode("utf-8")
    head_dic = json.loads(head_json)
    print(head_dic)
    data_size = head_dic["data_size"]
    # part3: the data, all of it before printing
    recv_size = 0
    recv_data = b''
    while recv_size < data_size:
        data = phone.recv(1024)
        recv_size += len(data)
        recv_data += data
    print(recv_data.decode("utf-8"))
phone.close()
