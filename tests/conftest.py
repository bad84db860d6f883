"""Session-wide test set-up: the real infrastructure fixtures of tests/infra.py (started only when a test
asks for them). tests/ is not a package, so infra.py is loaded from its file, importable afterwards as
``photo3d_tests_infra`` (e.g. ``from photo3d_tests_infra import S3Settings``), and its fixtures are
exposed here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_INFRA_MODULE = "photo3d_tests_infra"

if _INFRA_MODULE not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_INFRA_MODULE, Path(__file__).with_name("infra.py"))
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_INFRA_MODULE] = _module
    _spec.loader.exec_module(_module)

# fixtures only (pytest's FixtureFunctionDefinition objects carry the wrapped function)
globals().update(
    {
        name: value
        for name, value in vars(sys.modules[_INFRA_MODULE]).items()
        if hasattr(value, "_fixture_function")
    }
)
