"""POST a JSON body of SIZE bytes to URL with urllib, the way a simple
client does it: the whole body is sent before the reply is read. Prints
the HTTP status and the reply's JSON body, or the error that ended the
request.

    python3 post_large_body.py URL SIZE
"""
import json
import sys
import urllib.error
import urllib.request

url, size = sys.argv[1], int(sys.argv[2])
# A listener spec padded to SIZE: the daemon refuses it for its size
# before it reads any of it.
prefix = b'{"id":"big","transport":"TRANSPORT_TCP","address":"127.0.0.1:0","padding":"'
suffix = b'"}'
body = prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix
req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        status, reply = resp.status, resp.read()
except urllib.error.HTTPError as e:
    status, reply = e.code, e.read()
except OSError as e:
    print("error", repr(e))
    sys.exit(0)
print(status, json.dumps(json.loads(reply)))
