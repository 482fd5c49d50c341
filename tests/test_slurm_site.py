"""config/slurm.yaml and the config key `slurm`: the train rule's SLURM resources (sbatch itself: test_slurm.py)."""

import pytest

from mnist_sweep.config.hyperparameters import ConfigError
from mnist_sweep.config.validation import validate_config
from mnist_sweep.cluster.slurm_site import train_resources, with_site_file


def site_config(tmp_path, text, given=None):
    site = tmp_path / "slurm.yaml"
    site.write_text(text)
    config = {} if given is None else {"slurm": given}
    return validate_config(with_site_file(config, site))


def test_the_site_file_gives_each_setting_its_sbatch_resource(tmp_path):
    config = site_config(tmp_path, "partition: gpu\naccount: 123456\nqos: normal\nconstraint: a100|h100\n"
                                   "gpu_model: 3g.40gb\n")
    assert train_resources(config["slurm"]) == {
        "slurm_partition": "gpu", "slurm_account": "123456", "qos": "normal", "constraint": "a100|h100",
        "gpu_model": "3g.40gb", "gpu": 1, "nodes": 1}


def test_the_config_key_overrides_the_file_key_by_key(tmp_path):
    config = site_config(tmp_path, "partition: gpu\nqos: normal\n", {"qos": "long"})
    assert config["slurm"] == {"partition": "gpu", "qos": "long"}


def test_a_gres_replaces_the_gpus_flag(tmp_path):
    config = site_config(tmp_path, "gres: gpu:a100:1\n")
    assert train_resources(config["slurm"]) == {"gres": "gpu:a100:1", "gpu": 0, "nodes": 1}


def test_no_site_file_and_an_empty_one_send_one_gpu_on_one_node_only(tmp_path):
    one_gpu = {"gpu": 1, "nodes": 1}
    assert train_resources(validate_config(with_site_file({}, tmp_path / "absent.yaml"))["slurm"]) == one_gpu
    assert train_resources(site_config(tmp_path, "# all commented out\n")["slurm"]) == one_gpu


@pytest.mark.parametrize("text, message", [
    ("qos: two words\n", "slurm.qos = \"two words\" is not allowed"),
    ("partiton: gpu\n", "unknown key 'partiton' in 'slurm'; allowed keys: account, constraint"),
    ("gres: gpu:a100:x1\n", "slurm.gres"),
    ("gpu_model: 'a100'''\n", "slurm.gpu_model"),
    ("- gpu\n", "must be a mapping of keys to values"),
    ("partition: [gpu\n", "not valid YAML"),
])
def test_bad_site_settings_stop_before_any_job(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        site_config(tmp_path, text)


def test_gres_and_gpu_model_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="either gres .* or gpu_model .*, not both"):
        site_config(tmp_path, "gres: gpu:1\ngpu_model: a100\n")


def test_several_gpus_per_job_from_gpus_or_a_gres_count(tmp_path):
    """`gpus: 4` asks --gpus=4 (with a gpu_model: the plugin's --gpus=a100:4) on one node (--nodes=1: SLURM may
    otherwise spread them over two, where one job step cannot use them); a GRES gives its own count."""
    from mnist_sweep.cluster.slurm_site import gpus_per_job

    config = site_config(tmp_path, "gpu_model: a100\ngpus: 4\n")
    assert train_resources(config["slurm"]) == {"gpu_model": "a100", "gpu": 4, "nodes": 1}
    assert gpus_per_job(config["slurm"]) == 4
    assert [gpus_per_job({"gres": gres}) for gres in ("gpu:a100:2", "gpu:3", "gpu", "gpu:a100")] == [2, 3, 1, 1]
    assert gpus_per_job({}) == 1
    with pytest.raises(ConfigError, match="either gres .* or gpus .*, not both"):
        site_config(tmp_path, "gres: gpu:2\ngpus: 2\n")
    for bad in ("gpus: 0\n", "gpus: 1.5\n", "gpus: 65\n"):
        with pytest.raises(ConfigError, match="slurm.gpus"):
            site_config(tmp_path, bad)


def test_gpu_memory_is_a_planning_setting_not_an_sbatch_flag(tmp_path):
    """gpu_memory_gb sizes packs (packs.plan_packs); it sends nothing to sbatch. A whole number is fine."""
    for text, value in (("gpu_memory_gb: 80\n", 80), ("gpu_memory_gb: 19.5\n", 19.5)):
        config = site_config(tmp_path, text)
        assert config["slurm"]["gpu_memory_gb"] == value
        assert train_resources(config["slurm"]) == {"gpu": 1, "nodes": 1}
    for bad in ("gpu_memory_gb: 0\n", "gpu_memory_gb: -8\n", "gpu_memory_gb: 80GB\n", "gpu_memory_gb: 2000\n"):
        with pytest.raises(ConfigError, match="slurm.gpu_memory_gb"):
            site_config(tmp_path, bad)


def test_reservation_mail_and_free_flags_reach_sbatch_and_flags_owned_elsewhere_are_refused(tmp_path):
    config = site_config(tmp_path, "partition: gpu\nreservation: maint-week\nmail_type: END,FAIL\n"
                                   "mail_user: me@example.org\nslurm_extra: --exclusive --hint=nomultithread\n")
    assert train_resources(config["slurm"])["slurm_extra"] == (
        "--reservation=maint-week --mail-type=END,FAIL --mail-user=me@example.org --exclusive --hint=nomultithread")
    for extra, instead in (("--gpus=2", "the keys gpus, gpu_model or gres"), ("-p debug", "the key partition"),
                           ("--mem=4G", "job_memory_mb"), ("-c4", "train_threads"), ("--time 10", "runtime"),
                           ("--exclusive --nodes=2", "one node"), ("--job-name=x", "the workflow sets it")):
        with pytest.raises(ConfigError, match=f"slurm.slurm_extra: .* is set elsewhere; use .*{instead}"):
            site_config(tmp_path, f"slurm_extra: '{extra}'\n")
    with pytest.raises(ConfigError, match="cannot be split"):
        site_config(tmp_path, "slurm_extra: '--comment \"open'\n")
    with pytest.raises(ConfigError, match="slurm.mail_type"):
        site_config(tmp_path, "mail_type: SOMETIMES\n")


@pytest.mark.parametrize("text", ["gpu_model: a100-80gb\ngpus: 2\n", "gres: gpu:a100-80gb:2\n"])
def test_a_gpu_type_with_a_dash_goes_as_gpus_per_node(tmp_path, text):
    """The SLURM plugin refuses a dash in gpu_model and gres (a100-80gb, as sites name GPUs): the same request
    then goes as --gpus-per-node, on the job's one node, with nothing else asking for GPUs."""
    resources = train_resources(site_config(tmp_path, text + "mail_type: END\n")["slurm"])
    assert resources == {"gpu": 0, "nodes": 1, "slurm_extra": "--gpus-per-node=a100-80gb:2 --mail-type=END"}
