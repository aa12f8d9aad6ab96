"""Schemathesis hooks of the contract test (loaded through SCHEMATHESIS_HOOKS by run.sh).

Two things a valid request needs that no OpenAPI document can say, fixed up in the cases
schemathesis generates as valid (positive) only; invalid (negative) cases are sent as made:

- A cursor (`cursor`, `page[after]`, `page[before]`) is an opaque token the server issued for
  one filter; a made-up one is refused (400/422) as it should be. Positive cases leave them out.
- An event's `created_at` may be at most 24 hours after the store receives it, and the store
  holds 1970 to 2262: a positive case's time outside that window is moved to now.
- An `event_payload` is any JSON whose integers fit in 64 bits (the store keeps them exactly
  or refuses them). A recursive schema could say so, but openapi-python-client 0.29.1 cannot
  read one (it drops the whole event model), so the document says it in words: a positive
  case's larger integer is sent as a string, as the server's error message asks.
- A legal hold (`POST /v1/holds`) needs `from` before `to` once both are taken into the
  store's 1970 to 2262 (a hold that holds nothing is refused), and a `filter` that is a query
  string of `GET /v1/events` naming real fields: a positive case's range is ordered and kept
  within those years, and its filter replaced by one that is (the document can give the
  filter only as a string).
"""

from datetime import datetime, timedelta, timezone

import schemathesis

CURSORS = ("cursor", "page[after]", "page[before]")
AHEAD_MAX = timedelta(hours=23)
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _positive(case) -> bool:
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return bool(mode is not None and mode.is_positive)


def _fix_time(event):
    if not isinstance(event, dict) or not isinstance(event.get("created_at"), str):
        return
    try:
        t = datetime.fromisoformat(event["created_at"].replace("z", "Z"))
        if t.tzinfo is None:
            return
        if EARLIEST <= t <= datetime.now(timezone.utc) + AHEAD_MAX:
            return
    except (ValueError, OverflowError):
        return
    event["created_at"] = datetime.now(timezone.utc).isoformat()


I64_MIN, U64_MAX = -(2**63), 2**64 - 1


def _fit_integers(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not I64_MIN <= value <= U64_MAX:
        return str(value)
    if isinstance(value, list):
        return [_fit_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _fit_integers(v) for k, v in value.items()}
    return value


LATEST = datetime(2262, 4, 11, tzinfo=timezone.utc)


def _instant(text):
    try:
        t = datetime.fromisoformat(text.replace("z", "Z"))
    except (TypeError, ValueError, OverflowError):
        return None
    return t if t.tzinfo is not None and EARLIEST <= t < LATEST else None


def _fix_hold(hold):
    times = sorted((_instant(hold.get(k)), hold.get(k)) for k in ("from", "to")
                   if _instant(hold.get(k)) is not None)
    if len(times) == 2 and times[0][0] < times[1][0]:
        hold["from"], hold["to"] = times[0][1], times[1][1]
    else:
        hold["from"], hold["to"] = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"
    if "filter" in hold:
        hold["filter"] = "actor_id=contract&not.status=ok"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if not _positive(case):
        return
    if isinstance(case.query, dict):
        for name in CURSORS:
            case.query.pop(name, None)
    body = case.body
    if case.operation.path == "/v1/holds" and isinstance(body, dict):
        _fix_hold(body)
        return
    for event in body if isinstance(body, list) else [body]:
        _fix_time(event)
        if isinstance(event, dict) and "event_payload" in event:
            event["event_payload"] = _fit_integers(event["event_payload"])
