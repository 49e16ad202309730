"""Pex complete platforms of the AWS Lambda Python runtimes (see README.md)."""
