"""Reads an EMBER document on stdin with Python's xml.etree (an XML parser
independent of ours) and prints, as JSON, every program's id, external ids,
titles, descriptions, synopses, keywords and studios (text and attributes),
and every ProgramOffers' id and programRef, in document order.
Used by shared/catalog-core/tests/etree.rs."""
import json
import sys
import xml.etree.ElementTree as ET


def texts(entry, path, attributes):
    out = []
    for element in entry.iterfind(path):
        item = {"text": element.text or ""}
        for name in attributes:
            if element.get(name) is not None:
                item[name] = element.get(name)
        out.append(item)
    return out


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
            localized = ["language", "territories", "default"]
            out["programs"].append({
                "kind": entry.tag,
                "id": entry.get("id"),
                "external_ids": texts(entry, "ExternalIds/ExternalId", ["scheme"]),
                "titles": texts(entry, "Titles/Title", localized),
                "descriptions": texts(entry, "Descriptions/Description", localized),
                "synopses": texts(entry, "Synopses/Synopsis", localized),
                "keywords": texts(entry, "Keywords/Keyword", []),
                "studios": texts(entry, "Studios/Studio", []),
            })
json.dump(out, sys.stdout, ensure_ascii=False)
