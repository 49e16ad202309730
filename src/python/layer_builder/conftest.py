import os
from pathlib import Path

import pytest
from layer_builder.builder import PexSettings


@pytest.fixture(scope="session")
def pex_settings(tmp_path_factory) -> PexSettings:
    """pex's cache, new for the session; the CA bundle Pants is given, for a TLS-intercepting
    proxy."""
    root = tmp_path_factory.mktemp("pex_root")
    return PexSettings(Path(root), cert=os.environ.get("PANTS_CA_CERTS_PATH"))
