"""Schemathesis hooks for paymux's CI run (schemathesis.toml names this file).

Rules of the API that no JSON Schema can state, each documented where it applies, are met by
generated data before it is sent, so that positive data is held to every rule the schema does
state with no 400 allowed:

- A number is an integer only when written without a fraction: `2500.0` is refused, so that an
  amount of `25.00` meant as dollars is never taken as 25 cents. JSON Schema counts `2500.0`
  as the integer 2500, so generated integers are written as integers (for every operation and
  either kind of data: it is the same JSON Schema value).
- Creating a checkout: `items` must add up to `amount`, and `expires_at` must lie ahead of the
  clock, within the chosen provider's window. Valid generated orders are made to meet both;
  negative data is sent as generated.
"""

from datetime import datetime, timedelta, timezone

import schemathesis
from schemathesis import GenerationMode


# Whole numbers up to 2^53 are exact as floats; larger ones are not amounts or counts paymux
# takes (and written out in full, the largest floats exceed what any JSON parser reads).
EXACT = 2**53


def integral(value):
    """`value` with every float that holds an exact whole number written as an integer."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT:
        return int(value)
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral(item) for item in value]
    return value


@schemathesis.hook
def map_body(context, body):
    return integral(body)


@schemathesis.hook("map_case").apply_to(operation_id="create_checkout")
def order_meets_the_rules_the_schema_cannot_state(context, case):
    meta = case.meta
    body = case.body
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE or not isinstance(body, dict):
        return case
    items = body.get("items")
    if items and sum(item["quantity"] * item["unit_amount"] for item in items) != body.get("amount"):
        # A basket that does not add up is refused by every provider: its first line, once, at
        # the whole amount, keeps a basket the schema's rules still apply to.
        body["items"] = [dict(items[0], quantity=1, unit_amount=body["amount"])]
    if body.get("expires_at") is not None:
        # An hour ahead is inside every provider's window (SKN Pay's is 30 days).
        in_an_hour = datetime.now(timezone.utc) + timedelta(hours=1)
        body["expires_at"] = in_an_hour.isoformat(timespec="seconds")
    return case
