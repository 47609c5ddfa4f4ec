"""Writes COUNT distinct SKN Pay `payment.succeeded` events, signed now with SECRET as SKN Pay
signs (`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`), one `signature<TAB>body` line each. The
payments name no checkout, so every event is new and paymux still runs its linking lookups.

Usage: events.py SECRET COUNT PREFIX > events.tsv
"""
import hashlib
import hmac
import json
import sys
import time


def signed_event(secret, prefix, n, now):
    """Event number N of PREFIX as SKN Pay sends it at NOW: its id, body and signature."""
    event_id = f"evt_{prefix}_{n}"
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "payment.succeeded",
            "created": now,
            "livemode": False,
            "data": {
                "object": {
                    "object": "payment",
                    "id": f"pay_{prefix}_{n}",
                    "livemode": False,
                    "amount": 1250,
                    "currency": "USD",
                    "status": "succeeded",
                    "metadata": {"order_id": f"order-{prefix}-{n}"},
                }
            },
        },
        separators=(",", ":"),
    )
    mac = hmac.new(secret, f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    return event_id, body, f"t={now},v1={mac}"


if __name__ == "__main__":
    secret, count, prefix = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
    now = int(time.time())
    out = sys.stdout
    for n in range(count):
        _, body, signature = signed_event(secret, prefix, n, now)
        out.write(f"{signature}\t{body}\n")
