"""What several verbs share: help texts read from the preset tables, `--model KEY=VALUE`."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields

from glt.errors import GLTError

DEVICE_HELP = "cpu, cuda, cuda:1 ... (default: the GPU if there is one)"


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return format(value, "g").replace("e-0", "e-") if isinstance(value, float) else str(value)


def by_preset(config_class, presets: dict[str, dict], name: str) -> str:
    """A setting's value in every preset, for its flag's help: "paper 120, tiny 32", or "0.1"
    when the presets agree (the dataclass default, unless a preset changes it)."""
    default = next(f.default for f in fields(config_class) if f.name == name)
    assert default is not MISSING, name
    values = {preset: overrides.get(name, default) for preset, overrides in presets.items()}
    if len(set(values.values())) == 1:
        return _show(default)
    return ", ".join(f"{preset} {_show(value)}" for preset, value in values.items())


def parse_model_overrides(items: list[str]) -> dict:
    """`--model KEY=VALUE` items as GLTConfig overrides (values read as JSON when they parse)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise GLTError(f"--model {item!r}: expected KEY=VALUE, e.g. --model depth=2")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides
