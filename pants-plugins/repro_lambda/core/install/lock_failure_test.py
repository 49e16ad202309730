"""Reading pex's and pip's errors: unit tests on errors captured from real `lambda-lock` runs."""

from __future__ import annotations

from repro_lambda.core.install.lock_failure import MissingWheel, missing_wheel, pip_said

# `lambda-lock` of a resolve pinning numpy 2.2.6 (from a lockfile for Pythons before 3.14), for
# python3.14 and python3.13 lambdas: numpy 2.2.6 has no cp314 wheel. pip calls it a conflict
# between the requirement and the resolve's pin, and writes "numpy<2.3 and >=2.2". Captured
# 2026-12-07 with pex 2.105.2 (pip 23.1.2); long lines are continued with a backslash.
NUMPY_2_2_6_ON_CP314 = """\
/tmp/pants-sandbox-Qc4YrO/__lambda_pex/pex/sysconfig.py:56: PEXWarning: Failed to detect i\
f this interpreter is running under musl libc: [Errno 2] No such file or directory: 'ldd'
  pex_warnings.warn(
pid 31142 -> /root/.cache/pants/named_caches/repro_lambda_pex_root/venvs/4/0b52b87b483ebf5\
6256b1567deeb726e3f8c39e0/800adf930af043007883e4d084a352d595634163/bin/python /root/.cache\
/pants/named_caches/repro_lambda_pex_root/venvs/4/0b52b87b483ebf56256b1567deeb726e3f8c39e0\
/800adf930af043007883e4d084a352d595634163/pex --disable-pip-version-check --exists-action \
a --no-input --no-python-version-warning --isolated --log /tmp/pants-sandbox-Qc4YrO/.tmp/p\
ex-pip-log.q_oekpl5/pip.log -q --cache-dir /root/.cache/pants/named_caches/repro_lambda_pe\
x_root/pip/4/23.1.2/pip_cache install --no-clean --dry-run --ignore-installed --report /ro\
ot/.cache/pants/named_caches/repro_lambda_pex_root/downloads/2/.tmp/resolver_report.a_pd9a\
3b/cp314-cp314-manylinux_2_34_x86_64/pip-report.json --only-binary :all: --constraint __co\
nstraints.txt numpy<2.3,>=2.2 pydantic<3,>=2.11 --index-url https://pypi.org/simple/ --ret\
ries 5 --timeout 15 exited with 1 and STDERR:
pip: /root/.cache/pants/named_caches/repro_lambda_pex_root/isolated/0/9bedfde9c38bb49423d3\
829bbaa8e2f4d489a4d2/pex/sysconfig.py:56: PEXWarning: Failed to detect if this interpreter\
 is running under musl libc: [Errno 2] No such file or directory: 'ldd'
pip:   pex_warnings.warn(
pip: ERROR: Cannot install numpy<2.3 and >=2.2 because these package versions have conflic\
ting dependencies.
pip: ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/depe\
ndency-resolution/#dealing-with-dependency-conflicts
pip: \x20
pip:  The conflict is caused by:
pip:      The user requested numpy<2.3 and >=2.2
pip:      The user requested (constraint) numpy==2.2.6
pip: \x20
pip:  To fix this you could try to:
pip:  1. loosen the range of package versions you've specified
pip:  2. remove package versions to allow pip attempt to solve the dependency conflict
"""
PLATFORMS = {
    "cp314-cp314-manylinux_2_34_x86_64": "python3.14-x86_64",
    "cp314-cp314-manylinux_2_34_aarch64": "python3.14-arm64",
    "cp313-cp313-manylinux_2_34_x86_64": "python3.13-x86_64",
}


def test_a_pin_in_conflict_with_its_requirement_has_no_wheel() -> None:
    missing = missing_wheel(NUMPY_2_2_6_ON_CP314, PLATFORMS)
    assert missing == MissingWheel("numpy<2.3,>=2.2", "python3.14-x86_64")
    assert missing.project == "numpy"


def test_what_pip_said_leaves_out_pexs_command_line_and_warnings() -> None:
    said = pip_said(NUMPY_2_2_6_ON_CP314)
    assert said.splitlines()[:2] == [
        "ERROR: Cannot install numpy<2.3 and >=2.2 because these package versions have"
        " conflicting dependencies.",
        "ERROR: ResolutionImpossible: for help visit"
        " https://pip.pypa.io/en/latest/topics/dependency-resolution/"
        "#dealing-with-dependency-conflicts",
    ]
    assert "The user requested (constraint) numpy==2.2.6" in said
    assert "/tmp/" not in said and "/root/" not in said and "Warning" not in said


def test_without_pip_lines_the_last_lines_are_said() -> None:
    stderr = "".join(f"line {n}\n" for n in range(15))
    assert pip_said(stderr) == "\n".join(f"line {n}" for n in range(5, 15))
