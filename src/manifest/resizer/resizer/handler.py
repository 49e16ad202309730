"""Scales image dimensions to fit a box; its lambda's patterns take resizer/**/*.py only."""

from resizer.fit import fit


def handler(event, context):
    return fit(event["width"], event["height"], event["box"])
