"""Calls every route of a live annal server through the client openapi-python-client generated
from its document, and checks that the client's models parse each real answer.

Usage: check_client.py BASE_URL ADMIN_KEY (the generated package `annal_client` importable).
Exits non-zero naming every route whose answer the models did not parse.
"""

import json
import sys

import httpx

from annal_client import AuthenticatedClient
from annal_client.api.audit_events_v1 import audit_events
from annal_client.api.audit_logs_v2 import audit_logs
from annal_client.api.events import (
    append,
    catalog,
    count,
    export,
    get_one,
    histogram,
    list_,
)
from annal_client.api.file_transfer_audit_api import audit
from annal_client.api.integrity import checkpoint, consistency, inclusion
from annal_client.api.operation import healthz, metrics, trail, whoami
from annal_client.models import (
    AppendResult,
    AuditEventListResponse,
    AuditLogsPage,
    AuditPage,
    CatalogsOut,
    ConsistencyJson,
    CountOut,
    EventIn,
    EventOut,
    EventPage,
    HistogramOut,
    HTTPValidationError,
    InclusionJson,
    Problem,
    StreamMessage,
    TrailOut,
    WhoamiOut,
)
from annal_client.models.histogram_interval import HistogramInterval

base, key = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=base, token=key, timeout=httpx.Timeout(30.0))
failures = []
checked = []


def expect(route, answer, model):
    """The answer of `route` parsed into `model` (a generated class, or str)."""
    checked.append(route)
    if not isinstance(answer, model):
        failures.append(f"{route}: expected {model.__name__}, got {type(answer).__name__}: {answer!r:.300}")
    return answer


page = expect("GET /v1/events", list_.sync(client=client, limit=5), EventPage)
first = page.items[0] if isinstance(page, EventPage) and page.items else None
expect("GET /v1/events/{key}", get_one.sync(str(first.seq) if first else "0", client=client), EventOut)
expect("GET /v1/events/count", count.sync(client=client), CountOut)
expect(
    "GET /v1/events/histogram",
    histogram.sync(client=client, interval=HistogramInterval.DAY),
    HistogramOut,
)
expect("GET /v1/catalog", catalog.sync(client=client), CatalogsOut)
expect("GET /healthz", healthz.sync(client=client), str)
expect("GET /v1/whoami", whoami.sync(client=client), WhoamiOut)
expect("GET /v1/trail", trail.sync(client=client), TrailOut)
expect("GET /metrics", metrics.sync(client=client), str)
expect("GET /api/Audit", audit.sync(client=client, page_size=5), AuditPage)
expect("GET /api/v2/audit_logs", audit_logs.sync(client=client, pagesize=5), AuditLogsPage)
expect("GET /v1/audit/events", audit_events.sync(client=client, limit=5), AuditEventListResponse)
event = EventIn.from_dict({"event_type": "ClientCheck", "status": "success", "user_id": 7})
appended = expect("POST /v1/events", append.sync(client=client, body=event), AppendResult)
expect("POST /v1/events (array)", append.sync(client=client, body=[event, event]), AppendResult)
# A producer's id, sent and fetched back (re-sent: the stored event, `duplicate`).
with_id = EventIn.from_dict({"id": "client-check-1", "event_type": "ClientCheck", "event_code": 202})
expect("POST /v1/events (with id)", append.sync(client=client, body=with_id), AppendResult)
again = expect("POST /v1/events (re-sent)", append.sync(client=client, body=with_id), AppendResult)
if isinstance(again, AppendResult) and not again.items[0].duplicate:
    failures.append("POST /v1/events (re-sent): not a duplicate")
expect("GET /v1/events/{key} by id", get_one.sync("client-check-1", client=client), EventOut)
exported = export.sync(client=client)
checked.append("GET /v1/export")
lines = exported.decode() if isinstance(exported, bytes) else str(exported)
for line in [l for l in lines.splitlines() if l.strip()][:50]:
    try:
        EventOut.from_dict(json.loads(line))
    except Exception as e:  # noqa: BLE001 - any failure to parse is the finding
        failures.append(f"GET /v1/export: a line the EventOut model does not parse: {e}: {line:.200}")
        break
else:
    if not lines.strip():
        failures.append("GET /v1/export: empty")

# The live stream never ends: read its first message from the generated client's connection.
checked.append("GET /v1/events/stream")
with client.get_httpx_client().stream(
    "GET", "/v1/events/stream", headers={"Last-Event-ID": "0"}, timeout=30.0
) as r:
    fields = {}
    for line in r.iter_lines():
        if not line:
            if "data" in fields:
                break
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")
    try:
        StreamMessage.from_dict(fields)
        EventOut.from_dict(json.loads(fields["data"]))
    except Exception as e:  # noqa: BLE001
        failures.append(f"GET /v1/events/stream: {e}: {fields!r:.200}")

note = expect("GET /v1/checkpoint", checkpoint.sync(client=client), str)
size = int(note.splitlines()[1]) if isinstance(note, str) else 2
expect("GET /v1/proof/inclusion", inclusion.sync(client=client, seq=0, tree_size=size), InclusionJson)
expect(
    "GET /v1/proof/consistency",
    consistency.sync(client=client, first=1, second=size),
    ConsistencyJson,
)

# Errors parse too: a problem (400, 404, 405) and FastAPI's 422 on the audit events route.
expect("GET /v1/events (400)", list_.sync(client=client, cursor="not-a-cursor"), Problem)
expect("GET /v1/events/{key} (404)", get_one.sync("no-such-id", client=client), Problem)
expect("GET /v1/audit/events (422)", audit_events.sync(client=client, cursor="x"), HTTPValidationError)
r = client.get_httpx_client().request("DELETE", "/v1/events")
checked.append("DELETE /v1/events (405)")
try:
    assert r.status_code == 405, r.status_code
    Problem.from_dict(r.json())
except Exception as e:  # noqa: BLE001
    failures.append(f"DELETE /v1/events: {e}")

print(f"openapi-python-client models parsed {len(checked) - len(failures)} of {len(checked)} answers")
for f in failures:
    print("FAILED", f)
sys.exit(1 if failures else 0)
