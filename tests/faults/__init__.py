"""The fault suite is a package so its `conftest` and test modules never shadow `tests/conftest.py` or a test module
of the same name in `tests/`; its helper modules (`faultkit`, …) are importable by plain name (see conftest)."""
