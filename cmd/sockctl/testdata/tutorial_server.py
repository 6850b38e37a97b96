# The tutorial's JSON-header server (section 十, the header written as a
# dict), kept the tutorial's way on purpose: the command arrives raw and is
# read with one recv(1024); the reply goes out in three sends:
# struct.pack("i", len(head_json)), the JSON head, then the data. That is
# the protocol `sockctl send/chat --request-framing raw --response-framing
# json` must speak.
#
# One change, also on purpose: the reply is the command upper-cased, where
# the tutorial runs it with subprocess.Popen(cmd, shell=True), which would
# let any client run anything. And it binds port 0 and prints the port it
# got, so that the test finds it without a fixed port; the test kills it.
import json
import socket
import struct

phone = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
phone.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
phone.bind(("127.0.0.1", 0))
phone.listen(5)
print(phone.getsockname()[1], flush=True)
while True:  # connection loop
    conn, addr = phone.accept()
    while True:  # communication loop
        try:
            cmd = conn.recv(1024)
            if not cmd:  # the client closed: the tutorial's Linux check
                break
            data = cmd.upper()
            head_dic = {"data_size": len(data)}
            head_json = json.dumps(head_dic)
            head_bytes = head_json.encode("utf-8")
            conn.send(struct.pack("i", len(head_json)))
            conn.send(head_bytes)
            conn.send(data)
        except Exception:
            break
    conn.close()
