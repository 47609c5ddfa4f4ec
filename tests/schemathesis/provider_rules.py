"""Each provider's rules in the API document, held against the live server at their bounds.

For every provider the document states rules for (`components.schemas.CheckoutRules.$defs`),
an order naming it is sent as it stands and changed at each stated bound: a text at its
`maxLength` and one character over, a number at its `minimum` or `maximum` and one past, each
`required` field left out, each listed currency and one not listed. The document must call
each order valid exactly when the server creates the checkout; a refused one must be a 400
naming the field. Fuzzing seldom lands on a bound, so this walks every one.

Usage: provider_rules.py BASE_URL (the server .ci/run starts: the sandbox, the demo merchant).
"""

import copy
import json
import sys
import urllib.error
import urllib.request

import jsonschema
import referencing

KEY = "pmx_test_demo"

# An order every provider's rules take, but for its currency, which comes from the rules.
BASE = {
    "amount": 1000,
    "reference": "order-1001",
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "success_url": "https://shop.example/thanks",
    "cancel_url": "https://shop.example/cart",
}


def post(base_url, body):
    request = urllib.request.Request(
        f"{base_url}/v1/checkouts",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def bounds(schema, path):
    """(description, path, value, valid) for each bound `schema` states at `path`."""
    if "maxLength" in schema:
        limit = schema["maxLength"]
        yield f"{limit} characters", path, "é" * limit, True
        yield f"{limit + 1} characters", path, "é" * (limit + 1), False
    for keyword, step in (("minimum", -1), ("maximum", 1)):
        if keyword in schema:
            bound = schema[keyword]
            yield f"{keyword} {bound}", path, bound, True
            yield f"past {keyword} {bound}", path, bound + step, False
    for name, inner in schema.get("properties", {}).items():
        if isinstance(inner, dict):
            yield from bounds(inner, path + [name])
    for alternative in schema.get("anyOf", []):
        yield from bounds(alternative, path)


def with_value(body, path, value):
    changed = copy.deepcopy(body)
    target = changed
    for name in path[:-1]:
        target = target.setdefault(name, {})
    target[path[-1]] = value
    return changed


def without(body, path):
    changed = copy.deepcopy(body)
    target = changed
    for name in path[:-1]:
        target = target[name]
    del target[path[-1]]
    return changed


def cases(rules, all_currencies):
    """(description, body changes, param, valid) for each bound of one provider's rules."""
    properties = rules.get("properties", {})
    listed = properties["currency"]["enum"]
    for currency in listed:
        yield f"currency {currency}", {"currency": currency}, None, True
    unlisted = next(code for code in all_currencies if code not in listed)
    yield f"currency {unlisted}", {"currency": unlisted}, "currency", False
    for name in ("currency", "provider"):
        properties = {key: value for key, value in properties.items() if key != name}
    for description, path, value, valid in bounds({"properties": properties}, []):
        yield f"{'.'.join(path)} at {description}", (path, value), ".".join(path), valid
    for name in rules.get("required", []):
        yield f"no {name}", ([name], None), name, False
    for name in properties.get("customer", {}).get("required", []):
        yield f"no customer.{name}", (["customer", name], None), f"customer.{name}", False


def main(base_url):
    with urllib.request.urlopen(f"{base_url}/openapi.json", timeout=30) as response:
        document = json.load(response)
    schemas = document["components"]["schemas"]
    registry = referencing.Registry().with_resource(
        "urn:paymux", referencing.jsonschema.DRAFT202012.create_resource(document)
    )
    validator = jsonschema.Draft202012Validator(
        {"$ref": "urn:paymux#/components/schemas/CheckoutIn"}, registry=registry
    )
    all_currencies = schemas["Currency"]["enum"]
    failures = []
    checked = 0
    for provider, rules in schemas["CheckoutRules"]["$defs"].items():
        base = dict(BASE, provider=provider, currency=rules["properties"]["currency"]["enum"][0])
        for description, change, param, expected in cases(rules, all_currencies):
            if isinstance(change, dict):
                body = dict(base, **change)
            elif change[1] is None:
                body = without(base, change[0])
            else:
                body = with_value(base, *change)
            valid = validator.is_valid(body)
            status, answer = post(base_url, body)
            checked += 1
            problems = []
            if valid != expected:
                problems.append(f"the document calls it {'valid' if valid else 'invalid'}")
            if valid and status != 201:
                problems.append(f"the server answered {status} {answer}")
            named = answer.get("error", {}).get("param") or ""
            if not valid and (status != 400 or not (named == param or named.startswith(param + "."))):
                problems.append(f"the server answered {status} {answer}, not a 400 naming {param}")
            if problems:
                failures.append(f"{provider}, {description}: {'; '.join(problems)}")
    for failure in failures:
        print(failure)
    print(f"{checked} orders at the providers' bounds, {len(failures)} disagreements")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
