# coding:utf-8
# The tutorial's JSON-header server (section 十), the other end of
# json_header_client.py: it reads the bare command with recv(1024) and
# answers with struct.pack("i", len(head_json)), the JSON head, then the
# data. Where the tutorial runs the command in a shell, this one answers
# the command upper-cased, and puts a field of its own in the head
# ("server"), so that a test sees both come through a proxy unchanged.
#
# Changes for the test: it binds the host and port of argv (port 0: any)
# and prints the port it got; it serves connections one after another
# until killed, as the tutorial's does.
import json
import socket
import struct
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(5)
print(server.getsockname()[1], flush=True)
while True:  # the connection loop
    conn, addr = server.accept()
    while True:  # the communication loop
        try:
            cmd = conn.recv(1024)
        except ConnectionResetError:
            break
        if not cmd:
            break
        data = cmd.upper()
        head = {"data_size": len(data), "server": "tutorial"}
        head_json = json.dumps(head).encode("utf-8")
        conn.send(struct.pack("i", len(head_json)))
        conn.send(head_json)
        conn.sendall(data)
    conn.close()
