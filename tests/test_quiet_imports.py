"""Loading a model prints nothing a person cannot act on (issue 38)."""

import subprocess
import sys

import pytest


def _stderr(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stderr


def test_bitsandbytes_kernel_warning_is_not_printed_on_a_model_load():
    bare = _stderr("import peft")
    if "gemm_4bit_forward" not in bare:
        pytest.skip("this CPU has no AVX512-BF16: bitsandbytes does not warn here")
    assert "gemm_4bit_forward" not in _stderr("import reason4rec.experts.model.base_model, peft")
