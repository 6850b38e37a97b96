# A framed-protocol client for the script and fault tests, written the
# tutorial's way: a frame is struct.pack("<i", len(header)), the JSON
# header {"data_size": N, ...} and the N body bytes; a reply is read with
# recv loops until each part is whole.
#
# Usage: framed_client.py tcp HOST PORT | udp HOST PORT | unix PATH
# The steps come on stdin as one JSON list; each "recv" and "end" step
# prints one JSON line saying what the client saw:
#   {"op": "send", "body": "text", "header": {"n": 5}}   (or "body_b64")
#   {"op": "recv"}     -> {"header": {...}, "body_b64": "...", "ms": ...}
#                         or {"error": "eof" | "reset" | "timeout"}
#   {"op": "end"}      -> {"end": "eof" | "reset" | "timeout" | "data"}
#   {"op": "timeout", "seconds": 0.3}   the timeout of the next reads
# "ms" is how long after the last send the reply's first byte came.
import base64
import json
import socket
import struct
import sys
import time

kind = sys.argv[1]
if kind == "unix":
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = sys.argv[2]
elif kind == "udp":
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    address = (sys.argv[2], int(sys.argv[3]))
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    address = (sys.argv[2], int(sys.argv[3]))
sock.settimeout(5)
if kind != "udp":
    sock.connect(address)


def say(obj):
    print(json.dumps(obj), flush=True)


def failure(err):
    if isinstance(err, ConnectionResetError):
        return "reset"
    if isinstance(err, socket.timeout):
        return "timeout"
    if isinstance(err, EOFError):
        return "eof"
    return "error: %r" % (err,)


def recv_exactly(n, first):
    # The tutorial's recv loop: ask for what is missing until it is in.
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise EOFError()
        if not data and first is not None and not first:
            first.append(time.monotonic())
        data += part
    return data


def parse(frame):
    head_len = struct.unpack("<i", frame[:4])[0]
    head = json.loads(frame[4:4 + head_len].decode("utf-8"))
    return head, frame[4 + head_len:]


def reply(head, body, first):
    out = {"header": head, "body_b64": base64.b64encode(body).decode("ascii")}
    try:
        out["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out["ms"] = round((first - sent) * 1000, 1)
    return out


sent = time.monotonic()
for step in json.load(sys.stdin):
    op = step["op"]
    if op == "timeout":
        sock.settimeout(step["seconds"])
    elif op == "send":
        if "body_b64" in step:
            body = base64.b64decode(step["body_b64"])
        else:
            body = step.get("body", "").encode("utf-8")
        head_dic = {"data_size": len(body)}
        head_dic.update(step.get("header", {}))
        head = json.dumps(head_dic).encode("utf-8")
        frame = struct.pack("<i", len(head)) + head + body
        sent = time.monotonic()
        if kind == "udp":
            sock.sendto(frame, address)
        else:
            sock.sendall(frame)
    elif op == "recv":
        try:
            if kind == "udp":
                frame, server = sock.recvfrom(65536)
                first = time.monotonic()
                head, body = parse(frame)
                say(reply(head, body, first))
                continue
            first = []
            head_len = struct.unpack("<i", recv_exactly(4, first))[0]
            head = json.loads(recv_exactly(head_len, None).decode("utf-8"))
            body = recv_exactly(head["data_size"], None)
            say(reply(head, body, first[0]))
        except (OSError, EOFError) as err:
            say({"error": failure(err)})
    elif op == "end":
        try:
            data = sock.recv(1)
            say({"end": "data" if data else "eof"})
        except (OSError, EOFError) as err:
            say({"end": failure(err)})
    else:
        raise SystemExit("unknown step %r" % (op,))
sock.close()
