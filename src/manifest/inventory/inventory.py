"""Totals the stock levels of a YAML document (PyYAML comes from requirements.arm64.lock)."""

import yaml

from stock import total


def lambda_handler(event, context):
    return {"statusCode": 200, "body": str(total(yaml.safe_load(event["body"])))}
