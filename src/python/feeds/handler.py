"""The titles and links of an RSS or Atom feed given in the event (`{"feed": "<rss>...</rss>"}`),
and its CRC-32 (crcmod's C extension, which crcmod publishes only as an sdist)."""

import crcmod._crcfunext  # noqa: F401  # the extension itself: no quiet pure-Python fallback
import crcmod.predefined
import feedparser

_CRC32 = crcmod.predefined.mkCrcFun("crc-32")


def lambda_handler(event, context):
    parsed = feedparser.parse(event["feed"])
    return {
        "title": parsed.feed.get("title", ""),
        "entries": [
            {"title": e.get("title", ""), "link": e.get("link", "")} for e in parsed.entries
        ],
        "crc32": format(_CRC32(event["feed"].encode()), "08x"),
    }
