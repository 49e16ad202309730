"""repro-lambda: byte-reproducible, content-addressed AWS Lambda artifacts for Pants."""
