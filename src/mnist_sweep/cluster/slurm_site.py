"""A site's SLURM settings for the training jobs (config/slurm.yaml, config key `slurm`), as the
SLURM plugin's resources of the train rule.

They are read by the workflow, not from the profile: a command-line `--set-resources train:...`
replaces the profile's whole `set-resources: train:` block, and a job then asked for any GPU, with
no QOS, in the default partition. They have a file of their own, apart from the sweep's config:
they belong to the cluster, not to a sweep a colleague may rerun elsewhere. config/slurm.yaml is
read on every invocation, and a `slurm:` key of the config (a config file, --config) overrides it
key by key. A resource given with --set-resources still wins over both
(Snakemake's order), one key at a time.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from mnist_sweep.config.hyperparameters import ConfigError

SITE_FILE = Path("config/slurm.yaml")

# config key -> the plugin's resource (snakemake-executor-plugin-slurm: sbatch flag)
RESOURCES = {
    "partition": "slurm_partition",  # --partition
    "account": "slurm_account",  # --account
    "qos": "qos",  # --qos
    "constraint": "constraint",  # --constraint
    "gpu_model": "gpu_model",  # --gpus=<model>:<gpu>
    "gres": "gres",  # --gres
}


# config key -> the sbatch flag it becomes in the plugin's free `slurm_extra` resource (the plugin has no
# resource of its own for these).
EXTRA_FLAGS = {"reservation": "--reservation", "mail_type": "--mail-type", "mail_user": "--mail-user"}
def train_resources(site: dict) -> dict:
    """The train rule's resources besides cpus_per_task and mem_mb: the GPUs (--gpus=<gpus>, default 1,
    or the site's model or GRES) on one node, and the site's settings (checked by config.validate_config)."""
    resources = {RESOURCES[key]: str(value) for key, value in site.items() if value is not None and key in RESOURCES}
    extra = [f"{flag}={shlex.quote(str(site[key]))}" for key, flag in EXTRA_FLAGS.items() if site.get(key)]
    # A GPU type with a dash (a100-80gb), as many sites name them: the plugin's checks of gpu_model and gres
    # refuse a dash, so the GPUs go as --gpus-per-node (the job has one node), which it lets through.
    dashed = dashed_gpu_type(site)
    if dashed:
        resources.pop("gpu_model", None)
        resources.pop("gres", None)
        extra.insert(0, f"--gpus-per-node={dashed}:{gpus_per_job(site)}")
    if site.get("slurm_extra"):
        extra.append(site["slurm_extra"])
    if extra:
        resources["slurm_extra"] = " ".join(extra)
    # With a GRES the GPUs are asked for there: gpu 0, else sbatch gets both --gres and --gpus.
    resources["gpu"] = 0 if site.get("gres") or dashed else gpus_per_job(site)
    # One node (--nodes=1): a job's GPUs serve processes of one step on one node (mnist_sweep.cluster.gpu_processes);
    # without it, SLURM may spread `--gpus=4` over two nodes, and the job fails there.
    resources["nodes"] = 1
    return resources


def dashed_gpu_type(site: dict) -> str | None:
    """The GPU type of gpu_model or of a gpu GRES (gpu:<type>:<n>) when it holds a dash, else None."""
    if site.get("gpu_model") and "-" in str(site["gpu_model"]):
        return str(site["gpu_model"])
    parts = str(site.get("gres") or "").split(":")
    if len(parts) >= 2 and parts[0] == "gpu" and "-" in parts[1]:
        return parts[1]
    return None


def gpus_per_job(site: dict) -> int:
    """GPUs of each training job: the `gpus` key (default 1), or the count that ends a GRES (gpu:a100:4)."""
    gres = site.get("gres")
    if gres:
        count = str(gres).rsplit(":", 1)[-1]
        return int(count) if count.isdigit() and ":" in str(gres) else 1
    return int(site.get("gpus") or 1)


def with_site_file(config: dict, site_file: Path = SITE_FILE) -> dict:
    """The config's `slurm` settings on top of the site file's (none where there is no file)."""
    try:
        text = site_file.read_text()
    except FileNotFoundError:
        return config
    try:
        site = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{site_file}: not valid YAML ({error})") from None
    if not isinstance(site, dict):
        raise ConfigError(f"{site_file}: must be a mapping of keys to values ({', '.join([*RESOURCES, 'gpus'])})")
    given = config.get("slurm") or {}
    if not isinstance(given, dict):
        return config  # the schema names the problem
    return {**config, "slurm": {**site, **given}}
