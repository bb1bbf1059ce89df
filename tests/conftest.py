"""Shared test configuration.

Statistical tests use fixed seeds; each states the tolerance it uses and why.
"""

import os

# One OpenBLAS thread per test process (set before numpy loads; an explicit setting wins):
# scipy's L-BFGS-B calls BLAS on tiny matrices, and on a machine with more busy processes than
# cores OpenBLAS's thread pool made each call ~30x slower (theory.fit bootstrap refit: 3 ms ->
# 100 ms of CPU measured on 2 shared cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def cli_runner():
    """Run `sim` in-process the way the console script does: returns (exit_code, stdout, stderr)."""
    import contextlib
    import io

    from sim.cli import main

    def invoke(*args: str):
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return code, out.getvalue(), err.getvalue()

    return invoke
