"""The titles and links of an RSS or Atom feed given in the event (`{"feed": "<rss>...</rss>",
"options": "--limit=10"}`), and its CRC-32. Three of its requirements publish only sdists: docopt
(the options), sgmllib3k (through feedparser) and crcmod, whose C extension computes the CRC."""

import crcmod._crcfunext  # noqa: F401  # the extension itself: no quiet pure-Python fallback
import crcmod.predefined
import docopt
import feedparser

USAGE = "Usage: digest [--limit=N]"
_CRC32 = crcmod.predefined.mkCrcFun("crc-32")


def lambda_handler(event, context):
    options = docopt.docopt(USAGE, argv=event.get("options", "").split())
    limit = int(options["--limit"]) if options["--limit"] else None
    parsed = feedparser.parse(event["feed"])
    return {
        "title": parsed.feed.get("title", ""),
        "entries": [
            {"title": e.get("title", ""), "link": e.get("link", "")} for e in parsed.entries[:limit]
        ],
        "crc32": format(_CRC32(event["feed"].encode()), "08x"),
    }
