#!/usr/bin/env python3
"""The hand-written Python baseline of `catalogctl build` (issue 16's speed target).

Reads a source export (JSON Lines, plain or .zst) with the fields
`catalogctl generate` writes, and writes the same EMBER 1.0.0 elements
`catalogctl build` writes for it (without any of its checks),
with lxml's incremental writer (`etree.xmlfile`) into a `zstandard` stream at
level 3; offers go to a temporary zstd spill and are appended after the
ProgramCatalog, as the Rust writer does. Used only by scripts/bench-ember.

    ember_build.py EXPORT.jsonl[.zst] OUT.xml.zst [CATALOG_ID] [VERSION]
"""

import io
import json
import sys
import tempfile

import zstandard
from lxml import etree

TIERS = ("subscription", "free", "purchase", "rental")
ELEMENT = {"movie": "Movie", "series": "TVSeries", "season": "TVSeason", "episode": "TVEpisode"}


def open_export(path):
    raw = open(path, "rb")
    if raw.read(4) == b"\x28\xb5\x2f\xfd":
        raw.seek(0)
        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), encoding="utf-8")
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8")


def element(xf, name, text, **attrs):
    with xf.element(name, **attrs):
        xf.write(text)


def wrapped(xf, wrapper, name, values, attr=None):
    with xf.element(wrapper):
        for value in values:
            if attr:
                element(xf, name, value[1], **{attr: value[0]})
            else:
                element(xf, name, value)


SERIES_OF_SEASON = {}


def write_item(xf, row, default_locale):
    kind = row["type"]
    language = row.get("locale") or default_locale
    with xf.element(ELEMENT[kind], id=row["id"], version=str(row.get("version", 1))):
        if row.get("external_ids"):
            wrapped(xf, "ExternalIds", "ExternalId",
                    [(e["scheme"], e["id"]) for e in row["external_ids"]], "scheme")
        with xf.element("Titles"):
            element(xf, "Title", row["title"], language=language, default="true")
        if row.get("synopsis") is not None:
            with xf.element("Synopses"):
                element(xf, "Synopsis", row["synopsis"], language=language, default="true")
        if row.get("images"):
            wrapped(xf, "Images", "Image", [(i["type"], i["url"]) for i in row["images"]], "category")
        if row.get("genres"):
            wrapped(xf, "Genres", "Genre", row["genres"])
        if row.get("rating"):
            with xf.element("Ratings"):
                element(xf, "Rating", row["rating"]["value"], system=row["rating"]["system"])
        if row.get("credits"):
            wrapped(xf, "Credits", "Credit", [(c["role"], c["name"]) for c in row["credits"]], "role")
        if row.get("runtime_minutes"):
            with xf.element("RunLengths"):
                element(xf, "RunLength", "PT%dM" % row["runtime_minutes"])
        dates = row.get("release_dates") or (
            [{"date": row["release_date"]}] if row.get("release_date") else [])
        if dates:
            with xf.element("ReleaseDates"):
                for date in dates:
                    if date.get("type"):
                        element(xf, "ReleaseDate", date["date"], releaseType=date["type"])
                    else:
                        element(xf, "ReleaseDate", date["date"])
        if kind == "season":
            SERIES_OF_SEASON[row["id"]] = row["series_id"]
            with xf.element("Relationships"):
                xf.write(etree.Element("Relationship", type="series", programRef=row["series_id"],
                                       sequence=str(row["season_number"])))
        elif kind == "episode":
            with xf.element("Relationships"):
                xf.write(etree.Element("Relationship", type="season", programRef=row["season_id"],
                                       sequence=str(row["episode_number"])))
                xf.write(etree.Element("Relationship", type="series", programRef=row.get("series_id") or SERIES_OF_SEASON[row["season_id"]]))


def write_offers(spill, row, catalog_id):
    """Each <ProgramOffers> as a small tree, serialised into the spill."""
    offers = row.get("offers") or ()
    for tier in TIERS:
        of_tier = [o for o in offers if o["type"] == tier]
        if not of_tier:
            continue
        program_offers = etree.Element(
            "ProgramOffers", id="%s.offers.%s" % (row["id"], tier),
            version=str(row.get("version", 1)), programRef=row["id"],
            programCatalogRef=catalog_id)
        for offer in of_tier:
            for region in offer["regions"]:
                offer_element = etree.SubElement(program_offers, "ProgramOffer")
                if offer.get("start"):
                    offer_element.set("startTime", offer["start"])
                if offer.get("end"):
                    offer_element.set("endTime", offer["end"])
                entitlements = etree.SubElement(offer_element, "Entitlements")
                etree.SubElement(entitlements, "Entitlement", type=tier)
                geo = etree.SubElement(offer_element, "GeoRestrictions")
                etree.SubElement(geo, "Region", filter="allow_all", territories=region)
                if row.get("deep_link"):
                    targets = etree.SubElement(offer_element, "LaunchTargets")
                    etree.SubElement(targets, "LaunchTarget").text = row["deep_link"]
        spill.write(etree.tostring(program_offers, encoding="UTF-8", xml_declaration=False))


def main():
    source, out = sys.argv[1], sys.argv[2]
    catalog_id = sys.argv[3] if len(sys.argv) > 3 else "CATALOG"
    version = sys.argv[4] if len(sys.argv) > 4 else "1"
    level3 = zstandard.ZstdCompressor(level=3)
    with open(out, "wb") as sink, level3.stream_writer(sink) as zout, \
            tempfile.TemporaryFile() as spill_file:
        spill_writer = zstandard.ZstdCompressor(level=3).stream_writer(spill_file, closefd=False)
        any_offers = False
        with etree.xmlfile(zout, encoding="UTF-8") as xf:
            xf.write_declaration()
            with xf.element("DataCollections", schemaVersion="1.0.0"):
                with xf.element("ProgramCatalog", id=catalog_id, version=version):
                    for line in open_export(source):
                        if not line.strip():
                            continue
                        row = json.loads(line)
                        write_item(xf, row, "en-US")
                        if row.get("offers"):
                            any_offers = True
                            write_offers(spill_writer, row, catalog_id)
                    spill_writer.flush(zstandard.FLUSH_FRAME)
                if any_offers:
                    with xf.element("OfferCatalog", id=catalog_id + "-offers", version=version):
                        xf.flush()
                        spill_file.seek(0)
                        reader = zstandard.ZstdDecompressor().stream_reader(spill_file)
                        while True:
                            chunk = reader.read(1 << 20)
                            if not chunk:
                                break
                            zout.write(chunk)


if __name__ == "__main__":
    main()
