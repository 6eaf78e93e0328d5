#!/usr/bin/env python3
"""Reads Buy with Prime feed files with Python's csv module, as a third party would.

Usage: read_feed.py FILE.csv...

For each file: the first raw line must be exactly the documented header row,
the parsed header must be the seven documented columns, every row must have
seven fields. Prints one JSON object: {file: {"rows": N, "first": [...], "last": [...]}}.
Exits 1 (with the reason on stderr) on the first file that breaks a rule.
"""
import csv
import json
import sys

HEADER_LINE = '"External ID","Updated External ID","SKU","Amazon SKU","Offer Prime","Image URL","Product Detail Page URL"'
COLUMNS = [
    "External ID",
    "Updated External ID",
    "SKU",
    "Amazon SKU",
    "Offer Prime",
    "Image URL",
    "Product Detail Page URL",
]


def read(path):
    with open(path, "rb") as raw:
        first = raw.readline().decode("utf-8")
    if first.rstrip("\r\n") != HEADER_LINE:
        sys.exit(f"{path}: the first line is {first!r}, not the documented header row")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, strict=True))
    if rows[0] != COLUMNS:
        sys.exit(f"{path}: the header parses as {rows[0]!r}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            sys.exit(f"{path}:{number}: {len(row)} fields, not {len(COLUMNS)}")
    body = rows[1:]
    return {"rows": len(body), "first": body[0] if body else None, "last": body[-1] if body else None}


def main():
    print(json.dumps({path: read(path) for path in sys.argv[1:]}))


if __name__ == "__main__":
    main()
