"""Left out of the zip by the lambda's exclude pattern `**/tests/**`."""

from resizer.fit import fit


def test_fit():
    assert fit(400, 200, 100) == {"width": 100, "height": 50}
