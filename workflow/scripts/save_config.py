# Snakemake `script:` wrapper: the validated config, the data's identity and software versions, for the report.
from mnist_sweep.config.versions import write_config_record

write_config_record(snakemake.params.config, snakemake.output[0], snakemake.input.data)
