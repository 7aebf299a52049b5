"""The package as a whole: what ``import bayeslaw`` loads, and the warning hierarchy."""

import subprocess
import sys
import warnings

import bayeslaw as bl


def test_import_leaves_matplotlib_and_arviz_unloaded():
    # a fresh interpreter: this test process has imported matplotlib long ago
    code = "import sys, bayeslaw; print(sorted(m for m in ('matplotlib', 'arviz') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_warning_derives_from_the_root():
    for cls in (bl.ConvergenceWarning, bl.DataWarning, bl.ParetoKWarning, bl.DesignWarning):
        assert issubclass(cls, bl.BayeslawWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bl.BayeslawWarning)
        try:
            warnings.warn("R-hat", bl.ConvergenceWarning)
        except bl.BayeslawWarning as caught:
            assert str(caught) == "R-hat"
        else:
            raise AssertionError("ConvergenceWarning was not raised as an error")


def test_lazy_arviz_forwards_attributes():
    from bayeslaw.core._arviz import az

    assert az.InferenceData.__name__ == "InferenceData"
