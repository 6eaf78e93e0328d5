"""Reads an EMBER document on stdin with Python's xml.etree (an XML parser
independent of ours) and prints, as JSON, every program's id, titles and
synopses, and every ProgramOffers' id and programRef, in document order.
Used by shared/catalog-core/tests/etree.rs."""
import json
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.stdin.buffer).getroot()
assert root.tag == "DataCollections", root.tag
out = {"programs": [], "offers": [], "deletes": []}
for catalog in root:
    for entry in catalog:
        if entry.tag == "Delete":
            out["deletes"].append(entry.get("id"))
        elif entry.tag == "ProgramOffers":
            out["offers"].append([entry.get("id"), entry.get("programRef")])
        else:
            titles = [t.text or "" for t in entry.iterfind("Titles/Title")]
            synopses = [t.text or "" for t in entry.iterfind("Synopses/Synopsis")]
            out["programs"].append([entry.tag, entry.get("id"), titles, synopses])
json.dump(out, sys.stdout, ensure_ascii=False)
