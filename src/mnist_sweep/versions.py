"""A record of what a sweep ran with: the validated config and the software versions."""

from __future__ import annotations

import platform
from importlib import metadata

import yaml

from mnist_sweep.io import write_text

PACKAGES = ("mnist-sweep", "snakemake", "snakemake-executor-plugin-slurm", "tensorflow", "keras",
            "numpy", "pandas", "scipy", "matplotlib", "mlxtend")


def software_versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def write_config_record(config: dict, out) -> None:
    record = {"config": dict(config), "software": software_versions()}
    write_text(out, yaml.safe_dump(record, sort_keys=False))
