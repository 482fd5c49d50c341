"""A Snakemake sweep of the Keras MNIST tutorial: seeds x hyperparameters, with honest statistics.

The package in layers, each importing only the ones below it (tests/test_layers.py checks it):

    planning/   5  what to train next: sampled points, rungs, packs (plans as data, made from results)
    analysis/   4  what the runs say: summaries, paired statistics, figures, search tables
    training/   3  one pack in one process: the Keras model, the packed model, trainer, run files
    cluster/    2  where a job runs: time left, signals, attempts and requeue, SLURM site, GPUs
    config/     1  what a sweep is: the schema, hyperparameters, the models as data, validation
    io.py, data.py 0  files written whole, and the datasets
"""

__version__ = "0.1.0"
