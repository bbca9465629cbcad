"""Validation of detection records against the JSON Schema the package ships (the contract firmware parses)."""

from __future__ import annotations

from typing import Any

import jsonschema

from edge_sdk.records import schema

_VALIDATOR = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def assert_valid_record(record: Any) -> None:
    """Fail with every schema violation of ``record`` listed."""
    errors = sorted(_VALIDATOR.iter_errors(record), key=lambda e: list(e.path))
    assert not errors, "record violates the schema:\n" + "\n".join(
        f"- {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors
    )
