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


def write_config_record(config: dict, out, prepared_data=None) -> None:
    """config.yaml of a sweep: its config, the data it trained on (by content) and software versions."""
    record = {"config": dict(config)}
    if prepared_data is not None:
        from mnist_sweep.data import content_digest, load_prepared

        record["data"] = {"file": str(prepared_data), "sha256": content_digest(load_prepared(prepared_data))}
    record["software"] = software_versions()
    write_text(out, yaml.safe_dump(record, sort_keys=False))
