"""Replica query latency against the primary's, and the replica's lag, over moto's S3 server.

    tests/bucket/venv.sh's venv: target/bucket-venv/bin/python benches/bucket/replica.py \
        target/release/annal target/bucket-venv/bin/moto_server [EVENTS]

Starts moto, a primary `annal serve` with a bucket, loads EVENTS generated events through
POST /v1/events, starts `annal serve --replica` on an empty directory, waits for it to catch
up, then times each seed query: the first call on each server (cold) and the median of 20
more (warm). Then measures the lag: events posted to the primary at a steady rate, the time
until the replica's count shows them. Last, the primary restarts with local_bytes_max = 0,
evicts every sealed segment, restarts again (cold cache) and the queries are timed through
the bucket. Prints markdown tables for docs/benchmarks.md.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ANNAL, MOTO = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
EVENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
           AWS_REGION="us-east-1", RUST_LOG="warn")
WORK = tempfile.mkdtemp(prefix="annal-replica-bench-")
QUERIES = [
    "/v1/events?limit=100",
    "/v1/events?limit=100&status=failure",
    "/v1/events/count?status=failure",
    "/v1/events/histogram?interval=day&by=status",
    "/api/Audit?category=Configuration&startDate=2026-02-01",
    "/api/v2/audit_logs?filter[created_at][]=2026-02-01T00:00:00Z&filter[created_at][]=2026-02-02T00:00:00Z&sort=created_at",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(cfg, data, *extra):
    p = subprocess.Popen([ANNAL, "serve", "--config", cfg, "--data", data, "--listen",
                          "127.0.0.1:0", *extra], env=ENV, text=True, stdout=subprocess.PIPE)
    line = p.stdout.readline()
    return p, line.split("on http://")[1].split()[0]


def get(base, path):
    t = time.perf_counter()
    with urllib.request.urlopen(f"http://{base}{path}", timeout=60) as r:
        body = r.read()
    return time.perf_counter() - t, body


def count(base):
    return json.loads(get(base, "/v1/events/count")[1])["count"]


def main():
    port = free_port()
    moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/bench", method="PUT"))
    cfg = os.path.join(WORK, "annal.toml")
    with open(cfg, "w") as f:
        f.write(f'[object_store]\nurl = "s3://bench/trail"\nendpoint = "http://127.0.0.1:{port}"\n'
                'allow_http = true\nship_interval_ms = 1000\n')
    ndjson = subprocess.run([ANNAL, "gen", str(EVENTS)], capture_output=True, check=True).stdout
    lines = ndjson.splitlines(keepends=True)
    primary, pbase = serve(cfg, os.path.join(WORK, "primary"))
    for i in range(0, len(lines), 10_000):
        req = urllib.request.Request(f"http://{pbase}/v1/events", data=b"".join(lines[i:i + 10_000]),
                                     headers={"Content-Type": "application/x-ndjson"})
        urllib.request.urlopen(req, timeout=120).read()
    start = time.time()
    replica, rbase = serve(cfg, os.path.join(WORK, "replica"), "--replica")
    while count(rbase) < EVENTS:
        time.sleep(0.2)
    catch_up = time.time() - start
    print(f"# replica bench: {EVENTS} events; an empty replica caught up in {catch_up:.1f} s\n")
    print("| query | primary cold ms | primary warm ms | replica cold ms | replica warm ms |")
    print("|---|---:|---:|---:|---:|")
    for q in QUERIES:
        row = []
        for base in (pbase, rbase):
            cold, body = get(base, q)
            warm = statistics.median(get(base, q)[0] for _ in range(20))
            row += [cold * 1e3, warm * 1e3]
        assert get(pbase, q)[1] == get(rbase, q)[1], f"answers differ: {q}"
        print(f"| `{q}` | " + " | ".join(f"{v:.1f}" for v in row) + " |")
    # Lag: one event at a time, 5 per second, timed until the replica counts it.
    lags = []
    extra = subprocess.run([ANNAL, "gen", "20", "--seed", "9"], capture_output=True,
                           check=True).stdout.splitlines(keepends=True)
    for line in extra:
        before = count(rbase)
        req = urllib.request.Request(f"http://{pbase}/v1/events", data=line,
                                     headers={"Content-Type": "application/x-ndjson"})
        urllib.request.urlopen(req).read()
        t = time.perf_counter()
        while count(rbase) <= before:
            time.sleep(0.01)
        lags.append(time.perf_counter() - t)
        time.sleep(0.2)
    lags.sort()
    print(f"\nreplica lag (append acknowledged by the primary → counted by the replica), 20 appends:"
          f" median {statistics.median(lags) * 1e3:.0f} ms, max {lags[-1] * 1e3:.0f} ms"
          " (ship interval 1000 ms, replica poll 1000 ms)")
    for p in (replica, primary):
        p.terminate()
        p.wait()
    # Evicted: every sealed segment read through the bucket.
    with open(cfg, "a") as f:
        f.write("local_bytes_max = 0\n")
    data = os.path.join(WORK, "primary")
    primary, pbase = serve(cfg, data)
    while any(n.endswith(".seg") for n in os.listdir(data)):
        time.sleep(0.2)
    primary.terminate()
    primary.wait()
    primary, pbase = serve(cfg, data)
    print("\n| query, every sealed segment evicted | cold ms (through the bucket) | warm ms |")
    print("|---|---:|---:|")
    for q in QUERIES:
        cold, _ = get(pbase, q)
        warm = statistics.median(get(pbase, q)[0] for _ in range(20))
        print(f"| `{q}` | {cold * 1e3:.1f} | {warm * 1e3:.1f} |")
    primary.terminate()
    primary.wait()
    moto.terminate()


main()
