"""Tail latency from append to Server-Sent Events delivery, against a running `annal serve`.

One thread holds GET /v1/events/stream?source=<tag> open; the main thread posts one event at a
time (POST /v1/events, each with a unique id) and notes when each POST started; the reader
notes when each id arrives. Latency = arrival - start of the POST that appended it (the
append's fdatasync included). Prints count, p50, p99, max in ms.

Usage: python3 sse_latency.py http://127.0.0.1:8080 [events=500] [interval_ms=10]
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse


def main() -> None:
    base = urllib.parse.urlparse(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    interval = (int(sys.argv[3]) if len(sys.argv) > 3 else 10) / 1000.0
    tag = f"sse-bench-{int(time.time() * 1000)}"
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    arrived: dict[str, float] = {}
    ready = threading.Event()

    def reader() -> None:
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
        conn.request("GET", f"/v1/events/stream?source={tag}")
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        ready.set()
        while len(arrived) < n:
            line = resp.fp.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                now = time.perf_counter()
                event = json.loads(line[6:])
                arrived[event["id"]] = now

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    ready.wait(10)
    time.sleep(0.2)
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
    for i in range(n):
        eid = f"{tag}-{i}"
        body = json.dumps({"event_type": "bench", "source": tag, "id": eid})
        sent[eid] = time.perf_counter()
        conn.request("POST", "/v1/events", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        acked[eid] = time.perf_counter()
        assert r.status == 200, r.status
        time.sleep(interval)
    t.join(10)
    def report(what: str, lat: list[float]) -> None:
        lat.sort()
        pick = lambda p: lat[min(len(lat) - 1, int(round((len(lat) - 1) * p)))]
        print(f"{what}: p50 {pick(0.5):.2f} ms  p99 {pick(0.99):.2f} ms  max {lat[-1]:.2f} ms")

    got = [k for k in sent if k in arrived]
    if not got:
        print("no events arrived")
        sys.exit(1)
    print(f"delivered {len(got)}/{n}")
    report("POST start -> SSE delivery", [(arrived[k] - sent[k]) * 1000 for k in got])
    report("POST start -> acknowledged (durable)", [(acked[k] - sent[k]) * 1000 for k in got])
    report("acknowledged -> SSE delivery", [max(0.0, arrived[k] - acked[k]) * 1000 for k in got])


if __name__ == "__main__":
    main()
