"""Layer 3, training: one pack trained in one process. Inputs, the Keras model built from
config.architecture, the packed model, the trainer, resume state, the one writer of a run's files, and the
job's command (train). Imports cluster, config and below."""
