"""Config files in, frozen records out: the only part of closim that reads YAML.

Pipeline (one module each): ``yaml_io`` (text -> data, syntax errors with line and column),
``compose`` (``extends`` chains, deep merge, origin of each value), ``overrides`` (``--set``
dotted paths), ``validate`` + ``errors`` (pydantic schemas -> one ConfigError with did-you-mean),
``hw_schema`` / ``workload_schema`` (the file formats), ``defaults`` (derived energies and static
power), ``build`` (models -> ``closim.model.hw.Accelerator`` / ``closim.model.workload.Workload``),
``catalog`` (bundled names, ``closim list``) and ``loader`` (the public entry points).
"""

from closim.config.catalog import BundledConfig, list_bundled, resolve_path
from closim.config.compose import Composed, compose
from closim.config.errors import CrossKeyError
from closim.config.hw_schema import HwConfig
from closim.config.loader import (
    Loaded,
    Overrides,
    detect_kind,
    load_hw,
    load_model,
    load_workload,
    resolved_config,
)
from closim.config.overrides import parse_set_options
from closim.config.validate import Schema, validate
from closim.config.workload_schema import WorkloadConfig
from closim.config.yaml_io import load_yaml_file

__all__ = [
    "BundledConfig",
    "Composed",
    "CrossKeyError",
    "HwConfig",
    "Loaded",
    "Overrides",
    "Schema",
    "WorkloadConfig",
    "compose",
    "detect_kind",
    "list_bundled",
    "load_hw",
    "load_model",
    "load_workload",
    "load_yaml_file",
    "parse_set_options",
    "resolve_path",
    "resolved_config",
    "validate",
]
