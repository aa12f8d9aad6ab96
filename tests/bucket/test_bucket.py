"""annal against moto's S3 server: see run.sh. Each scenario uses its own bucket."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import boto3

ANNAL = os.path.abspath(sys.argv[1])
MOTO = os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="annal-bucket-")
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
           AWS_REGION="us-east-1", RUST_LOG="warn")
PROCS = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    p = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(p)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto_server did not start")


class Proxy:
    """A TCP forwarder in front of moto, stopped and started to take the endpoint down."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.sock = None
        self.conns = []

    def up(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    def down(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.conns = []

    def _accept(self, sock):
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def s3(port):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def config(name, endpoint_port, bucket, data, signing_key=None, **extra):
    path = os.path.join(WORK, f"{name}.toml")
    lines = [f'data = "{data}"'] + ([f'signing_key = "{signing_key}"'] if signing_key else [])
    lines += ["", "[object_store]", f'url = "s3://{bucket}/trail"',
             f'endpoint = "http://127.0.0.1:{endpoint_port}"', "allow_http = true"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def annal(*args, check=True, input=None):
    r = subprocess.run([ANNAL, *args], env=ENV, capture_output=True, text=True, input=input,
                       timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"annal {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def gen(n, seed, days=3):
    """N generated events as NDJSON, each with a producer id (so a resend is recognised)."""
    out = []
    for i, line in enumerate(annal("gen", str(n), "--seed", str(seed), "--days",
                                   str(days)).stdout.splitlines()):
        e = json.loads(line)
        e["id"] = f"ev-{seed}-{i}"
        out.append(json.dumps(e, separators=(",", ":")) + "\n")
    return "".join(out)


def all_lines(data):
    lines = annal("export", "--data", data).stdout.splitlines()
    return [l for l in lines if l.startswith("{")]


def manifest(client, bucket):
    keys = client.list_objects_v2(Bucket=bucket, Prefix="trail/manifest/").get("Contents", [])
    if not keys:
        return None
    newest = max(k["Key"] for k in keys)
    return json.loads(client.get_object(Bucket=bucket, Key=newest)["Body"].read())


class Server:
    def __init__(self, cfg, data):
        self.cfg, self.data = cfg, data
        self.proc = None
        self.base = None

    def start(self, *extra):
        self.proc = subprocess.Popen([ANNAL, "serve", "--config", self.cfg, "--data", self.data,
                                      "--listen", "127.0.0.1:0", *extra], env=ENV, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        PROCS.append(self.proc)
        line = self.proc.stdout.readline()
        if "http://" not in line:
            raise AssertionError(f"serve did not start: {line} {self.proc.stderr.read()}")
        self.base = line.split("on http://")[1].split()[0]
        return self

    def post(self, ndjson, timeout=30):
        req = urllib.request.Request(f"http://{self.base}/v1/events", data=ndjson.encode(),
                                     headers={"Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def get(self, path):
        with urllib.request.urlopen(f"http://{self.base}{path}", timeout=30) as r:
            return r.read()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def wait_until(what, cond, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def scenario(f):
    print(f"== {f.__name__}", flush=True)
    start = time.time()
    f()
    print(f"   ok in {time.time() - start:.1f}s", flush=True)
    return f


MOTO_PORT = start_moto()
S3 = s3(MOTO_PORT)


def new_bucket(name):
    S3.create_bucket(Bucket=name)
    return name


@scenario
def sync_then_restore_holds_every_event():
    bucket = new_bucket("sync-restore")
    data = os.path.join(WORK, "primary")
    cfg = config("sync", MOTO_PORT, bucket, data)
    annal("ingest", "--config", cfg, input=gen(30_000, 1))
    out = annal("sync", "--config", cfg).stdout
    assert "synced 30000 events" in out, out
    m = manifest(S3, bucket)
    assert m["events"] == 30_000 and len(m["sealed"]) >= 2 and m["tail"], m["events"]
    restored = os.path.join(WORK, "restored")
    out = annal("restore", "--config", cfg, "--data", restored).stdout
    assert "restored 30000 events" in out, out
    annal("verify", "--data", restored)
    assert all_lines(restored) == all_lines(data)
    # A second sync of an unchanged trail uploads nothing.
    out = annal("sync", "--config", cfg).stdout
    assert "0 objects" in out, out
    # The restored directory, signing with the trail's key, is another writer: fenced,
    # naming the prefix.
    key = os.path.join(data, "checkpoint.key")
    cfg_restored = config("restored", MOTO_PORT, bucket, restored, signing_key=key)
    r = annal("sync", "--config", cfg_restored, check=False)
    assert r.returncode != 0 and f"s3://{bucket}/trail" in r.stderr, r.stderr
    # Restore refuses a directory that is not empty.
    r = annal("restore", "--config", cfg, "--data", restored, check=False)
    assert r.returncode != 0 and "not empty" in r.stderr, r.stderr


@scenario
def another_trail_is_refused():
    bucket = "sync-restore"
    other = os.path.join(WORK, "other")
    cfg = config("other", MOTO_PORT, bucket, other)
    annal("ingest", "--config", cfg, input=gen(40_000, 2))
    r = annal("sync", "--config", cfg, check=False)
    assert r.returncode != 0 and f"s3://{bucket}/trail" in r.stderr, r.stderr


@scenario
def restore_names_a_changed_or_missing_object():
    bucket = "sync-restore"
    m = manifest(S3, bucket)
    key = "trail/" + m["sealed"][0]["segment"]["key"]
    original = S3.get_object(Bucket=bucket, Key=key)["Body"].read()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    S3.put_object(Bucket=bucket, Key=key, Body=bytes(flipped))
    cfg = config("damaged", MOTO_PORT, bucket, os.path.join(WORK, "unused"))
    r = annal("restore", "--config", cfg, "--data", os.path.join(WORK, "r-flip"), check=False)
    assert r.returncode != 0 and key in r.stderr and "changed" in r.stderr, r.stderr
    S3.delete_object(Bucket=bucket, Key=key)
    r = annal("restore", "--config", cfg, "--data", os.path.join(WORK, "r-gone"), check=False)
    assert r.returncode != 0 and key in r.stderr and "missing" in r.stderr, r.stderr
    S3.put_object(Bucket=bucket, Key=key, Body=original)
    annal("restore", "--config", cfg, "--data", os.path.join(WORK, "r-back"))


@scenario
def appends_go_on_while_the_endpoint_is_down_then_catch_up():
    bucket = new_bucket("outage")
    proxy = Proxy(MOTO_PORT)
    data = os.path.join(WORK, "outage")
    cfg = config("outage", proxy.port, bucket, data, ship_interval_ms=200)
    # The endpoint is down from the start: the server starts anyway.
    server = Server(cfg, data).start()
    events = gen(6_000, 3).splitlines(keepends=True)
    status, _ = server.post("".join(events[:2_000]))
    assert status == 200
    wait_until("an error in the status file",
               lambda: "last error" in annal("stats", "--config", cfg).stdout, 30)
    proxy.up()
    wait_until("the bucket to hold 2000 events",
               lambda: (manifest(S3, bucket) or {}).get("events") == 2_000, 60)
    proxy.down()
    status, _ = server.post("".join(events[2_000:]))
    assert status == 200, "appends go on while the bucket is down"
    # The next round (after a backoff) fails and says so, with what the bucket lacks.
    wait_until("stats to show the failed round",
               lambda: "of 6000" in (s := annal("stats", "--config", cfg).stdout)
               and "last error" in s, 60)
    stats = annal("stats", "--config", cfg).stdout
    assert "2000 of 6000" in stats, stats
    assert manifest(S3, bucket)["events"] == 2_000
    # The console's trail page and /metrics tell the same.
    up = json.loads(server.get("/v1/trail"))["bucket"]
    assert up["lag_events"] == 4_000 and up["errors"] >= 1 and up["last_error"], up
    metrics = server.get("/metrics").decode()
    assert "annal_bucket_upload_lag_events 4000" in metrics, metrics
    errors = [l for l in metrics.splitlines() if l.startswith("annal_bucket_upload_errors_total ")]
    assert errors and int(errors[0].split()[1]) >= 1, errors
    proxy.up()
    wait_until("the bucket to catch up", lambda: manifest(S3, bucket)["events"] == 6_000, 60)
    wait_until("the trail page to show no upload lag",
               lambda: json.loads(server.get("/v1/trail"))["bucket"]["lag_events"] == 0, 30)
    server.stop()
    restored = os.path.join(WORK, "outage-restored")
    annal("restore", "--config", cfg, "--data", restored)
    assert all_lines(restored) == all_lines(data)


@scenario
def ack_after_upload_waits_for_the_bucket():
    bucket = new_bucket("ack")
    proxy = Proxy(MOTO_PORT)
    proxy.up()
    data = os.path.join(WORK, "ack")
    cfg = config("ack", proxy.port, bucket, data, ship_interval_ms=1000, ack="bucket")
    server = Server(cfg, data).start()
    events = gen(3_000, 4).splitlines(keepends=True)
    for i in range(0, 1_000, 100):
        status, body = server.post("".join(events[i:i + 100]))
        assert status == 200, body
        top = max(item["seq"] for item in body["items"])
        assert manifest(S3, bucket)["events"] > top, "acknowledged only once in the bucket"
    proxy.down()
    status, body = server.post("".join(events[1_000:1_100]))
    assert status == 503 and f"s3://{bucket}/trail" in body["detail"], (status, body)
    proxy.up()
    # The same events again: stored once, acknowledged now that the bucket has them.
    status, body = server.post("".join(events[1_000:1_100]))
    assert status == 200 and all(i["duplicate"] for i in body["items"]), body
    server.stop()


SEED_QUERIES = [
    "/v1/events?limit=200",
    "/v1/events?limit=50&order=desc",
    "/v1/events/count",
    "/v1/events/count?status=failure",
    "/v1/events/histogram?interval=day&by=status",
    "/api/Audit?category=Configuration&startDate=2026-01-02",
    "/api/Audit?eventType=Login%20Failed&startDate=2026-01-01",
    "/api/v2/audit_logs?filter[created_at][]=2026-01-02T00:00:00Z&filter[created_at][]=2026-01-02T06:00:00Z&sort=created_at",
]


@scenario
def a_replica_answers_as_the_primary_does():
    bucket = new_bucket("replica")
    data = os.path.join(WORK, "replica-primary")
    cfg = config("replica", MOTO_PORT, bucket, data, ship_interval_ms=200)
    primary = Server(cfg, data).start()
    events = gen(20_000, 7).splitlines(keepends=True)
    for i in range(0, 10_000, 1_000):
        assert primary.post("".join(events[i:i + 1_000]))[0] == 200
    replica = Server(cfg, os.path.join(WORK, "replica-cache")).start("--replica")
    for i in range(10_000, 20_000, 1_000):
        assert primary.post("".join(events[i:i + 1_000]))[0] == 200
    wait_until("the replica to hold every event",
               lambda: json.loads(replica.get("/v1/events/count"))["count"] == 20_000, 60)
    for q in SEED_QUERIES:
        assert replica.get(q) == primary.get(q), q
    status, body = replica.post(events[0])
    assert status == 409 and f"s3://{bucket}/trail" in body["detail"], (status, body)
    replica.stop()
    primary.stop()


@scenario
def evicted_segments_answer_the_same():
    bucket = new_bucket("evict")
    data = os.path.join(WORK, "evict")
    cfg = config("evict", MOTO_PORT, bucket, data, local_bytes_max=0, ship_interval_ms=200)
    annal("ingest", "--config", cfg, input=gen(30_000, 6))
    before = all_lines(data)
    counts = annal("query", "--config", cfg, "--group-by", "action").stdout
    server = Server(cfg, data).start()
    answers = {q: server.get(q) for q in SEED_QUERIES}
    wait_until("every sealed segment evicted",
               lambda: not any(n.endswith(".seg") for n in os.listdir(data)), 60)
    for q in SEED_QUERIES:
        assert server.get(q) == answers[q], q
    server.stop()
    assert "sealed segments only in the bucket" in annal("stats", "--config", cfg).stdout
    export = annal("export", "--config", cfg).stdout.splitlines()
    assert [l for l in export if l.startswith("{")] == before
    assert annal("query", "--config", cfg, "--group-by", "action").stdout == counts
    annal("verify", "--config", cfg)
    # Without the bucket the directory is refused, saying why.
    r = annal("export", "--data", data, check=False)
    assert r.returncode != 0 and "live only in its bucket" in r.stderr, r.stderr


@scenario
def sigkill_during_uploads_loses_no_acknowledged_event():
    bucket = new_bucket("sigkill")
    data = os.path.join(WORK, "sigkill")
    cfg = config("sigkill", MOTO_PORT, bucket, data, ship_interval_ms=50)
    kills = int(os.environ.get("ANNAL_BUCKET_KILLS", "6"))
    lines = gen(10_000 * kills, 5, days=4).splitlines(keepends=True)
    acknowledged = set()
    rng = random.Random(5)
    at = 0
    for round_ in range(kills):
        server = Server(cfg, data).start()
        stop = threading.Event()

        def produce():
            nonlocal at
            while not stop.is_set() and at < len(lines):
                batch = lines[at:at + 100]
                try:
                    status, body = server.post("".join(batch), timeout=10)
                except OSError:
                    return
                if status != 200:
                    return
                acknowledged.update(json.loads(l)["id"] for l in batch)
                at += len(batch)

        t = threading.Thread(target=produce)
        t.start()
        time.sleep(rng.uniform(0.5, 1.5))
        server.kill()
        stop.set()
        t.join()
    # Every restart resumed; after a last sync the bucket holds every acknowledged event.
    annal("sync", "--config", cfg)
    restored = os.path.join(WORK, "sigkill-restored")
    annal("restore", "--config", cfg, "--data", restored)
    ids = {json.loads(l)["id"] for l in all_lines(restored)}
    missing = acknowledged - ids
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    print(f"   {len(acknowledged)} acknowledged events over {kills} SIGKILLs, all restored")


def static_log_root(bucket, prefix="trail/"):
    """The tree root the bucket's static tlog-tiles log gives for its checkpoint's size,
    computed here from the tiles alone (RFC 6962 hashing, hashlib only), and the
    checkpoint's own size and root."""
    import base64
    import hashlib

    note = S3.get_object(Bucket=bucket, Key=prefix + "checkpoint")["Body"].read().decode()
    origin, size, root = note.split("\n")[:3]
    size = int(size)
    tiles = {}

    def path(n):
        groups = []
        while True:
            groups.append(n % 1000)
            n //= 1000
            if n == 0:
                break
        parts = [f"x{g:03}" for g in reversed(groups[1:])] + [f"{groups[0]:03}"]
        return "/".join(parts)

    def stored(level, index):
        """The hash of the 256^level leaves starting at index * 256^level."""
        tile, pos = divmod(index, 256)
        full = size // 256 ** (level + 1)
        width = 256 if tile < full else (size // 256 ** level) % 256
        key = f"{prefix}tile/{level}/{path(tile)}" + ("" if width == 256 else f".p/{width}")
        if key not in tiles:
            tiles[key] = S3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return tiles[key][32 * pos:32 * pos + 32]

    def mth(start, n):
        level = 0
        while n % 256 ** (level + 1) == 0 and start % 256 ** (level + 1) == 0 and n >= 256 ** (level + 1):
            level += 1
        if n == 256 ** level:
            return stored(level, start // n)
        k = 1
        while k * 2 < n:
            k *= 2
        return hashlib.sha256(b"\x01" + mth(start, k) + mth(start + k, n - k)).digest()

    return size, base64.b64decode(root), mth(0, size), len(tiles)


@scenario
def a_prune_reaches_the_bucket_and_the_bucket_is_a_verifiable_static_log():
    import gzip
    import hashlib

    bucket = new_bucket("prune")
    data = os.path.join(WORK, "prune-primary")
    cfg = config("prune", MOTO_PORT, bucket, data)
    annal("ingest", "--config", cfg, input=gen(20_000, 5, days=90))
    annal("checkpoint", "--config", cfg)
    annal("sync", "--config", cfg)
    size, signed, computed, fetched = static_log_root(bucket)
    assert size == 20_000 and signed == computed, (size, signed.hex(), computed.hex())
    before = {k["Key"] for k in S3.list_objects_v2(Bucket=bucket, Prefix="trail/seg/")["Contents"]}
    # Events from 2026-01-01 over 90 days: 300 days' retention keeps those from February on.
    out = annal("prune", "--config", cfg, "--retention-days", "300").stdout
    assert "pruned seqs 0.." in out, out
    annal("checkpoint", "--config", cfg)
    annal("sync", "--config", cfg)
    m = manifest(S3, bucket)
    start = m["start"]
    assert start > 0 and m["sealed"][0]["base"] == start and m["trail_start"] and m["lifecycle"], m
    after = {k["Key"] for k in S3.list_objects_v2(Bucket=bucket, Prefix="trail/seg/")["Contents"]}
    gone = before - after
    assert gone and all(int(k.split("/")[-1].split(".")[0]) < start for k in gone), sorted(gone)
    assert all(int(k.split("/")[-1].split(".")[0]) >= start for k in after)
    # The static log: no bundle below the minimum index; the root from the tiles alone is
    # the signed one; the first retained bundle hashes to its level-0 tile.
    min_index = (start + 255) // 256 * 256
    bundles = [k["Key"] for k in S3.list_objects_v2(Bucket=bucket, Prefix="trail/tile/entries/",
                                                       MaxKeys=1000)["Contents"]]
    assert bundles, "no entry bundles in the bucket"
    size, signed, computed, fetched = static_log_root(bucket)
    assert size > 20_000 and signed == computed, (size, signed.hex(), computed.hex())
    first = min_index // 256
    name = f"{first // 1000:03}" if first < 1000 else None
    key = f"trail/tile/entries/{first:03}" if first < 1000 else None
    assert key, "the test trail has fewer than 256,000 events"
    bundle = gzip.decompress(S3.get_object(Bucket=bucket, Key=key)["Body"].read())
    tile = S3.get_object(Bucket=bucket, Key=f"trail/tile/0/{first:03}")["Body"].read()
    at, i = 0, 0
    while at < len(bundle):
        n = int.from_bytes(bundle[at:at + 2], "big")
        leaf = hashlib.sha256(b"\x00" + bundle[at + 2:at + 2 + n]).digest()
        assert leaf == tile[32 * i:32 * i + 32], f"entry {first * 256 + i} does not hash to its leaf"
        at, i = at + 2 + n, i + 1
    assert i == 256, i
    for k in bundles:
        index = k.split("entries/")[1].split(".p/")[0].replace("x", "").replace("/", "")
        assert int(index) >= first, f"{k} is below the minimum index {min_index}"
    # A restore starts where the trail does, reports the pruned range as pruned, and verifies.
    restored = os.path.join(WORK, "prune-restored")
    annal("restore", "--config", cfg, "--data", restored)
    out = annal("verify", "--data", restored).stdout
    assert f"Pruned: seqs 0..{start}" in out and "OK" in out, out
    out = annal("stats", "--data", restored).stdout
    assert f"trail start     seq {start}" in out, out
    print(f"   pruned to seq {start}; the root from {fetched} tiles is the signed one")


for p in PROCS:
    p.kill()
print("bucket tests: all passed")
