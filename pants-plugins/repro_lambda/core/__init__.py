"""Pure-Python core of the deterministic AWS Lambda zip packer (no Pants imports)."""
