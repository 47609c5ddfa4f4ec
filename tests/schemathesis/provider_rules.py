"""Each provider's rules in the API document, held against the live server at their edges.

For every provider the document states rules for (`components.schemas.CheckoutRules.$defs`),
an order naming it is sent as it stands and changed at each edge the rules state: a text at
its `maxLength` and one character over, a number at its `minimum` or `maximum` and one past,
each `required` field left out, each listed currency and one not listed, and every field a
`pattern` governs given each of the probes below (white space that Python and Rust disagree
on, a trailing newline, URLs a parser would mend, a provider's own host). Orders that name no
provider, in every currency, and options set to null are sent too. The document must call an
order valid exactly when the server creates the checkout, and a refusal must be a 400 naming
the field. Fuzzing seldom lands on an edge; this walks every one.

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

# Texts for every field a pattern governs.
PROBES = [
    "", " ", "a", "KN", "kn", "K", "KNA", "KN\n", " ZA ", "\x1cZA", "\u00a0ZA",
    "Ada", "Ada Lovelace", "Ada\u00a0Lovelace", "Ada\x1cLovelace", " Ada ", "Ada\n", "\x1c",
    "x" * 32 + " " + "y" * 32, "x" * 33, "x" * 32 + " " + "y" * 33,
    "x" * 32 + "  " + "y" * 32 + "  ", "x" * 32 + " y" * 16 + "z",
    "ada@example.com", "ada@example.com\n", "a@b", "a @b", "@b", "a@", "a@b@c",
    "https://shop.example/thanks", "http://shop.example/thanks", "HTTPS://SHOP.EXAMPLE/",
    " https://shop.example/", "https://shop.example/a b", "https:shop.example", "https://",
    "https://:443/", "https://@shop.example/", "ftp://shop.example/", "https://sknpay.com/x",
    "https://pay.SKNPAY.com./x", "https://user@sknpay.com:8443/", "https://sknpay.com.shop.example/",
    "https://notsknpay.com/",
]


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
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"unreadable": text}


def walk(schema, path):
    """(path, subschema) for each place of the body `schema` speaks of; a list's first item
    stands for every item."""
    yield path, schema
    for name, inner in schema.get("properties", {}).items():
        if isinstance(inner, dict):
            yield from walk(inner, path + [name])
    for alternative in schema.get("anyOf", []):
        yield from walk(alternative, path)
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], path + [0])


def field(path):
    """A path as the server's `param` names it: `items[0].name`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
    return text


def changed(body, path, value):
    """`body` with `value` at `path`, or without it when `value` is `Ellipsis` (`None` when the
    body has nothing there to leave out)."""
    body = copy.deepcopy(body)
    if path[0] == "items" and "items" not in body:
        body["items"] = [{"name": "Widget", "quantity": 1, "unit_amount": body["amount"]}]
    target = body
    for part, following in zip(path, path[1:]):
        empty = [] if isinstance(following, int) else {}
        if isinstance(target, dict):
            target = target.setdefault(part, empty)
        else:
            target.extend(copy.deepcopy(empty) for _ in range(part + 1 - len(target)))
            target = target[part]
    if isinstance(target, list):
        target.extend(None for _ in range(path[-1] + 1 - len(target)))
    if value is Ellipsis:
        if path[-1] not in target:
            return None
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


def cases(rules, all_currencies):
    """(description, path, value, expected validity or None) for each edge of one provider's
    rules; a path of None changes the currency."""
    listed = rules["properties"]["currency"]["enum"]
    for currency in listed:
        yield f"currency {currency}", ["currency"], currency, True
    unlisted = next(code for code in all_currencies if code not in listed)
    yield f"currency {unlisted}", ["currency"], unlisted, False
    for path, schema in walk(rules, []):
        if path and path[0] in ("currency", "provider"):
            continue
        if "maxLength" in schema:
            limit = schema["maxLength"]
            yield f"{field(path)} of {limit} characters", path, "é" * limit, True
            yield f"{field(path)} of {limit + 1} characters", path, "é" * (limit + 1), False
        for keyword, step in (("minimum", -1), ("maximum", 1)):
            if keyword in schema:
                bound = schema[keyword]
                yield f"{field(path)} at its {keyword}", path, bound, True
                yield f"{field(path)} past its {keyword}", path, bound + step, False
        for name in schema.get("required", []):
            yield f"no {field(path + [name])}", path + [name], Ellipsis, False
        if "pattern" in schema:
            for probe in PROBES:
                yield f"{field(path)} = {probe!r}", path, probe, None


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
    failures = []
    checked = 0

    def check(description, body, expected, param):
        nonlocal checked
        checked += 1
        valid = validator.is_valid(body)
        status, answer = post(base_url, body)
        named = (answer.get("error") or {}).get("param") or ""
        problems = []
        if expected is not None and valid != expected:
            problems.append(f"the document calls it {'valid' if valid else 'invalid'}")
        if valid and status != 201:
            problems.append(f"the server answered {status} {answer}")
        if not valid and status != 400:
            problems.append(f"the server answered {status}, not 400")
        if not valid and status == 400 and param and not named.startswith(param):
            problems.append(f"the 400 names {named!r}, not {param!r}")
        if problems:
            failures.append(f"{description}: {'; '.join(problems)}")

    all_currencies = schemas["Currency"]["enum"]
    for provider, rules in schemas["CheckoutRules"]["$defs"].items():
        currency = rules["properties"]["currency"]["enum"][0]
        base = dict(BASE, provider=provider, currency=currency)
        for description, path, value, expected in cases(rules, all_currencies):
            body = changed(base, path, value)
            if body is None:
                continue
            check(f"{provider}, {description}", body, expected, field(path))
        check(f"{provider}, its options null", dict(base, provider_options={provider: None}), None, None)
        check(f"{provider}, no options at all", dict(base, provider_options=None), None, None)
    for currency in all_currencies:
        check(f"no provider, {currency}", dict(BASE, currency=currency), None, None)
    for failure in failures:
        print(failure)
    print(f"{checked} orders at the edges of the providers' rules, {len(failures)} disagreements")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
