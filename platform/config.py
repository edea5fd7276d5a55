"""Typed configuration: dataclasses, loaded from YAML, with `key=value` overrides.

Every job declares one config dataclass (nested dataclasses for its parts). Defaults live
in the dataclasses, so a job runs with no YAML at all; a YAML file and command-line
overrides only change what differs. Anything that does not match the dataclass (an
unknown key, a wrong type, a missing required value) raises `ConfigError`, whose
one-line message names the key at fault.

    cfg = load_config(TrainConfig, "configs/tiny.yaml", ["trainer.num_workers=2"])
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import types
import typing
from typing import Any, TypeVar, Union

import yaml

from unimo.platform.errors import ConfigError

C = TypeVar("C")

MISSING = dataclasses.MISSING


def option(default: Any = MISSING, help: str = "") -> Any:
    """A config field with its `--help` text; mutable defaults are copied per instance.

    `option(help=...)` with no default makes the value required.
    """
    meta = {"help": help}
    if default is MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict, set)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ---------------------------------------------------------------------------------------
# Type checking of single values


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _check_value(value: Any, tp: Any, key: str) -> Any:
    """Return `value` as type `tp`, or raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping of {tp.__name__} fields, got {value!r}")
        return _from_dict(tp, value, key + ".")
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _check_value(value, arg, key)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"config key '{key}' must be {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"config key '{key}' must be {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list ({_type_name(tp)}), got {value!r}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise ConfigError(f"config key '{key}' must have {len(args)} items, got {value!r}")
            return tuple(_check_value(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        items = [_check_value(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
        _, val_tp = typing.get_args(tp) or (str, Any)
        return {str(k): _check_value(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"config key '{key}' must be null, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"config key '{key}' must be {_type_name(tp)}, got {value!r}")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _unknown_key_error(cls: type, key: str, prefix: str) -> ConfigError:
    names = list(_field_types(cls))
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f" (known: {', '.join(names)})"
    return ConfigError(f"unknown config key '{prefix}{key}'{hint}")


def _from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    types_ = _field_types(cls)
    for key in data:
        if key not in types_:
            raise _unknown_key_error(cls, str(key), prefix)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = prefix + f.name
        if f.name in data:
            value = data[f.name]
            default = _default(f)
            if isinstance(value, dict) and dataclasses.is_dataclass(default):
                # A partial section overrides the field's own default, not the class's.
                value = _deep_merge(to_dict(default), value)
            kwargs[f.name] = _check_value(value, types_[f.name], key)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"missing required config value '{key}'")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # a __post_init__ check
        raise ConfigError(f"config '{prefix.rstrip('.') or cls.__name__}': {e}") from None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# ---------------------------------------------------------------------------------------
# Overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=3` -> (["a", "b"], 3). Values are YAML scalars: 3, 0.5, true, null, [1, 2], text."""
    key, sep, raw = text.partition("=")
    key = key.strip().lstrip("-").replace("-", "_")
    if not sep or not key:
        raise ConfigError(f"override '{text}' is not of the form key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{'.'.join(path)}': '{part}' is not a section")
        node = child
    node[path[-1]] = value


def read_yaml(path: str) -> dict[str, Any]:
    """A YAML mapping from any storage URL ({} for an empty file)."""
    from unimo.platform import storage

    if not storage.exists(path):
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(storage.read_text(path))
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"config file '{path}' is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top level")
    return data


def load_config(cls: type[C], yaml_path: str | None = None, overrides: list[str] = ()) -> C:
    """Defaults from `cls`, updated by the YAML file, then by `key=value` overrides."""
    data = read_yaml(yaml_path) if yaml_path else {}
    for text in overrides:
        path, value = parse_override(text)
        _apply_override(data, path, value)
    return _from_dict(cls, data)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build (and type-check) a config from a plain mapping, e.g. one read from a checkpoint."""
    return _from_dict(cls, data)


def with_overrides(cfg: C, overrides: dict[str, Any]) -> C:
    """`cfg` with dotted keys replaced (`{"trainer.lr": 1e-3}`), type-checked like a YAML file."""
    data = copy.deepcopy(to_dict(cfg))
    for key, value in overrides.items():
        _apply_override(data, key.split("."), value)
    return _from_dict(type(cfg), data)


# ---------------------------------------------------------------------------------------
# Views of a resolved config


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: Any) -> str:
    return yaml.safe_dump(_plain(to_dict(cfg)), sort_keys=False)


def flatten(cfg: Any) -> dict[str, Any]:
    """{"trainer.num_workers": 2, ...}: the form MLflow params take."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix.rstrip(".")] = node

    walk(to_dict(cfg), "")
    return out


def config_hash(cfg: Any) -> str:
    """A short stable hash of the resolved config (which inputs made an output)."""
    blob = json.dumps(_plain(to_dict(cfg)), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def field_type(cls: type, dotted_key: str) -> Any:
    """The declared type of `a.b.c` in a config class, or None if there is no such key."""
    tp: Any = cls
    for part in dotted_key.split("."):
        if not dataclasses.is_dataclass(tp):
            return None
        tp = _field_types(tp).get(part)
        if tp is None:
            return None
    return tp


def describe(cls: type, prefix: str = "", defaults: Any = None) -> list[tuple[str, str, str, str]]:
    """(key, type, default, help) for every leaf key: what `--help` prints."""
    rows = []
    types_ = _field_types(cls)
    for f in dataclasses.fields(cls):
        tp = types_.get(f.name)
        if tp is None:
            continue
        key = prefix + f.name
        default = getattr(defaults, f.name) if defaults is not None else _default(f)
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, key + ".", default if default is not MISSING else None))
            continue
        shown = "(required)" if default is MISSING else repr(default)
        rows.append((key, _type_name(tp), shown, f.metadata.get("help", "")))
    return rows


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node
