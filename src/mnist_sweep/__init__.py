"""A Snakemake sweep of the Keras MNIST tutorial: seeds x hyperparameters, with honest statistics."""

__version__ = "0.1.0"
