"""Strict config loading, shared by every kind of config (GAN experiments, translators).

Loading is strict: an unknown key anywhere is an error that lists the valid
keys, so a typo never silently falls back to a default. Networks and losses are
"components": a mapping with a ``name`` (a key of a registry) plus that
component's own arguments, which the registry checks against the builder's
signature.

Overrides use dotted keys (``train.epochs=3``); values are parsed as YAML.

Two runs are "the same run" when their configs differ only in settings that do
not shape the trained weights (device, data folder, logging) or that may change
on resumption (the training length): ``config_changes`` and
``config_fingerprint`` decide that for both kinds of training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from anime_gan.errors import ConfigError

_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
# Settings that may change between a checkpoint and its resumption without starting over.
RESUMABLE_CHANGES = ("train.epochs", "train.device", "data.root", "log.")
# Settings that do not shape the trained weights.
NOT_FINGERPRINTED = ("train.device", "data.root", "log.")


def check_range(section: str, key: str, value: float, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> None:
    """One clear error naming ``section.key`` when ``value`` is outside [low, high] (or the open ends)."""
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ConfigError(f"{section}.{key} must be in {bounds}, got {value}")



def _check_value(value: Any, annotation: Any, where: str) -> Any:
    """Coerce ints to floats where a float is expected; reject other type mismatches."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_value(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a valid {annotation}")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
        return float(value)  # PyYAML reads "1e-4" (no dot) as a string; it is a number to everyone else
    if annotation is Any:
        return value
    base = origin or annotation
    if base is list and isinstance(value, (list, tuple)):
        (item_type,) = typing.get_args(annotation) or (Any,)
        return [_check_value(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if base is dict and isinstance(value, dict):
        key_type, item_type = typing.get_args(annotation) or (Any, Any)
        if dataclasses.is_dataclass(item_type):
            return {k: from_dict(item_type, v, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if isinstance(base, type) and isinstance(value, base) and not (isinstance(value, bool) and base is not bool):
        return value
    raise ConfigError(f"{where}: expected {getattr(base, '__name__', base)}, got {type(value).__name__} {value!r}")


def from_dict(cls: type, data: dict[str, Any] | None, where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys raise ConfigError listing the valid ones."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            kwargs[name] = from_dict(annotation, value, f"{where}.{name}")
        else:
            kwargs[name] = _check_value(value, annotation, f"{where}.{name}")
    for name in ("generator", "discriminator", "loss"):
        component = kwargs.get(name)
        if component is not None and "name" not in component:
            raise ConfigError(f"{where}.{name}: needs a 'name' key")
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.epochs=3"`` -> ``("train.epochs", 3)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (for example train.epochs=3)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    return key, yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested mapping (a copy); creates intermediate mappings as needed."""
    result = _deep_copy(data)
    for dotted, value in overrides.items():
        node = result
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return result


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``override`` merged in, recursing into nested mappings."""
    result = _deep_copy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = _deep_copy(value)
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def save_yaml(config: Any, path: str | Path) -> None:
    """A config dataclass as YAML, its fields in declaration order (what a run folder's config.yaml holds)."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as one level of dotted keys: {"train": {"epochs": 3}} -> {"train.epochs": 3}."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    """``key`` equals a pattern, or starts with a pattern ending in a dot."""
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in patterns)


def config_changes(old: dict[str, Any], new: dict[str, Any], added: dict[str, Any] | None = None) -> list[str]:
    """Dotted keys whose values differ, ignoring the ones a run may change when it resumes. ``added``: keys that
    the config gained after ``old`` was stored, with the value that does what ``old`` did (a config class's
    ``ADDED_KEYS``); a stored config without such a key reads as having that value."""
    a, b = flatten(old), flatten(new)
    for key, value in (added or {}).items():
        a.setdefault(key, value)
    changed = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return [k for k in changed if not _matches(k, RESUMABLE_CHANGES)]


def config_fingerprint(config: Any) -> str:
    """A short hash of everything that shapes the trained weights (logging and device excluded). A key the config
    class gained later (its ``ADDED_KEYS``) counts only when it differs from the value that does what runs before
    it did, so those runs keep their fingerprint."""
    added = getattr(type(config), "ADDED_KEYS", {})
    kept = {k: v for k, v in flatten(to_dict(config)).items()
            if not _matches(k, NOT_FINGERPRINTED) and not (k in added and v == added[k])}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]
