"""Sends distinct signed SKN Pay events from 32 connections until the server goes away, and
writes the id of every event it acknowledged (2xx) to ACKED, one per line: what must survive
a kill -9.

Usage: flood.py URL SECRET PREFIX ACKED
"""
import http.client
import sys
import threading
import time
import urllib.parse

from events import signed_event

url, secret, prefix, acked_path = sys.argv[1], sys.argv[2].encode(), sys.argv[3], sys.argv[4]
target = urllib.parse.urlsplit(url)
acked, lock = [], threading.Lock()


def client(worker):
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    n = worker
    while True:
        event_id, body, signature = signed_event(secret, prefix, n, int(time.time()))
        n += 32
        try:
            conn.request("POST", target.path, body=body, headers={
                "Content-Type": "application/json", "SknPay-Signature": signature})
            response = conn.getresponse()
            response.read()
        except OSError:
            return
        if 200 <= response.status < 300:
            with lock:
                acked.append(event_id)


threads = [threading.Thread(target=client, args=(w,)) for w in range(32)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with open(acked_path, "w") as out:
    out.write("".join(f"{event_id}\n" for event_id in acked))
