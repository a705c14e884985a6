#!/usr/bin/env python3
"""Writes the benchmark's schemas and instances into data/ (deterministic; rerun to refresh)."""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
rnd = random.Random(42)


def write(name, value):
    with open(os.path.join(HERE, "data", name), "w") as f:
        json.dump(value, f, indent=1, sort_keys=False)
        f.write("\n")


# 1. a small task input (draft-07)
write("small-task-input.schema.json", {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 600000},
        "retries": {"type": "integer", "minimum": 0, "maximum": 10},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"type": ["object", "null"]},
        "dry_run": {"type": "boolean"},
    },
    "required": ["url", "method"],
    "additionalProperties": False,
})
write("small-task-input.instance.json", {
    "url": "https://api.example.com/v1/items?limit=10",
    "method": "POST",
    "timeout_ms": 5000,
    "retries": 3,
    "headers": {"Authorization": "Bearer 0123456789abcdef", "Content-Type": "application/json"},
    "body": {"name": "widget", "count": 2},
    "dry_run": False,
})

# 2. a large nested document (2020-12)
write("large-nested.schema.json", {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["generated_at", "orders"],
    "properties": {
        "generated_at": {"type": "string", "minLength": 20},
        "orders": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "status", "customer", "lines", "total"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "status": {"enum": ["new", "paid", "shipped", "cancelled"]},
                    "customer": {
                        "type": "object",
                        "required": ["name", "email"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "email": {"type": "string", "minLength": 3},
                            "address": {
                                "type": "object",
                                "required": ["city", "country"],
                                "properties": {
                                    "street": {"type": "string"},
                                    "city": {"type": "string"},
                                    "zip": {"type": "string", "maxLength": 10},
                                    "country": {"type": "string", "minLength": 2, "maxLength": 2},
                                },
                                "additionalProperties": False,
                            },
                        },
                    },
                    "lines": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["sku", "qty", "price"],
                            "properties": {
                                "sku": {"type": "string"},
                                "qty": {"type": "integer", "minimum": 1},
                                "price": {"type": "number", "minimum": 0},
                                "tags": {"type": "array", "items": {"type": "string"},
                                         "uniqueItems": True},
                            },
                            "additionalProperties": False,
                        },
                    },
                    "total": {"type": "number", "minimum": 0},
                    "notes": {"type": ["string", "null"]},
                },
            },
        },
    },
})
cities = ["Lyon", "Porto", "Graz", "Turku", "Cork", "Gent", "Brno", "Bergen"]
orders = []
for i in range(1, 201):
    lines = []
    for k in range(rnd.randint(1, 6)):
        lines.append({
            "sku": "SKU-%05d" % rnd.randint(0, 99999),
            "qty": rnd.randint(1, 9),
            "price": round(rnd.uniform(0.5, 500), 2),
            "tags": rnd.sample(["red", "blue", "sale", "new", "bulk", "gift"], rnd.randint(0, 3)),
        })
    orders.append({
        "id": i,
        "status": rnd.choice(["new", "paid", "shipped", "cancelled"]),
        "customer": {
            "name": "Customer %d" % i,
            "email": "customer%d@example.com" % i,
            "address": {"street": "%d Main Street" % rnd.randint(1, 300),
                        "city": rnd.choice(cities), "zip": "%05d" % rnd.randint(1000, 99999),
                        "country": rnd.choice(["FR", "PT", "AT", "FI", "IE", "BE", "CZ", "NO"])},
        },
        "lines": lines,
        "total": round(sum(l["qty"] * l["price"] for l in lines), 2),
        "notes": None if i % 3 else "leave at the door",
    })
write("large-nested.instance.json", {"generated_at": "2026-11-26T09:14:00.123Z", "orders": orders})

# 3. a schema heavy with $ref and pattern (2020-12)
write("refs-patterns.schema.json", {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.com/schemas/account.json",
    "type": "object",
    "required": ["id", "owner", "invoices"],
    "properties": {
        "id": {"$ref": "#/$defs/id"},
        "owner": {"$ref": "#/$defs/contact"},
        "contacts": {"type": "array", "items": {"$ref": "#/$defs/contact"}},
        "address": {"$ref": "#/$defs/address"},
        "invoices": {"type": "array", "items": {"$ref": "#/$defs/invoice"}},
        "metadata": {
            "type": "object",
            "patternProperties": {"^[a-z][a-z0-9_]{0,31}$": {"type": "string", "maxLength": 256}},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
    "$defs": {
        "id": {"type": "string", "pattern": "^[a-z]{3}_[0-9A-Za-z]{16}$"},
        "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$"},
        "phone": {"type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$"},
        "date": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "money": {
            "type": "object",
            "required": ["amount", "currency"],
            "properties": {
                "amount": {"type": "string", "pattern": "^-?\\d+\\.\\d{2}$"},
                "currency": {"$ref": "#/$defs/currency"},
            },
            "additionalProperties": False,
        },
        "contact": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^\\S.{0,99}$"},
                "email": {"$ref": "#/$defs/email"},
                "phone": {"$ref": "#/$defs/phone"},
            },
            "additionalProperties": False,
        },
        "address": {
            "type": "object",
            "required": ["line1", "postcode", "country"],
            "properties": {
                "line1": {"type": "string", "minLength": 1},
                "postcode": {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9 -]{2,9}$"},
                "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            },
        },
        "line": {
            "type": "object",
            "required": ["sku", "quantity", "unit_price"],
            "properties": {
                "sku": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4,6}$"},
                "quantity": {"type": "integer", "minimum": 1},
                "unit_price": {"$ref": "#/$defs/money"},
            },
            "additionalProperties": False,
        },
        "invoice": {
            "type": "object",
            "required": ["id", "issued", "total", "lines"],
            "properties": {
                "id": {"$ref": "#/$defs/id"},
                "issued": {"$ref": "#/$defs/date"},
                "due": {"$ref": "#/$defs/date"},
                "total": {"$ref": "#/$defs/money"},
                "lines": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/line"}},
            },
            "additionalProperties": False,
        },
    },
})
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def rid(prefix):
    return prefix + "_" + "".join(rnd.choice(ALNUM) for _ in range(16))


def money():
    return {"amount": "%d.%02d" % (rnd.randint(0, 9999), rnd.randint(0, 99)), "currency": "EUR"}


write("refs-patterns.instance.json", {
    "id": rid("acc"),
    "owner": {"name": "Ada Lovelace", "email": "ada@example.org", "phone": "+442071234567"},
    "contacts": [{"name": "Contact %d" % i, "email": "c%d@example.com" % i} for i in range(5)],
    "address": {"line1": "12 Analytical Row", "postcode": "EC1A 1BB", "country": "GB"},
    "invoices": [{
        "id": rid("inv"),
        "issued": "2026-%02d-%02d" % (rnd.randint(1, 12), rnd.randint(1, 28)),
        "due": "2026-12-31",
        "total": money(),
        "lines": [{"sku": "ABC-%05d" % rnd.randint(0, 99999), "quantity": rnd.randint(1, 5),
                   "unit_price": money()} for _ in range(5)],
    } for _ in range(10)],
    "metadata": {"key_%d" % i: "value %d" % i for i in range(10)},
})
