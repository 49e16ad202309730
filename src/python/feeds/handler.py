"""The titles and links of an RSS or Atom feed given in the event (`{"feed": "<rss>...</rss>"}`)."""

import feedparser


def lambda_handler(event, context):
    parsed = feedparser.parse(event["feed"])
    return {
        "title": parsed.feed.get("title", ""),
        "entries": [
            {"title": e.get("title", ""), "link": e.get("link", "")} for e in parsed.entries
        ],
    }
