"""Layer 1, config: what a sweep is. The schema (config.schema.yaml), each hyperparameter declared once
(hyperparameters), the models as data (architecture), a search's space and rungs (search_space), validation
and the run table (validation). Imports only mnist_sweep.io and mnist_sweep.data."""
