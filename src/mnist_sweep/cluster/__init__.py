"""Layer 2, cluster: where a job runs. Time left and signals (deadline, signals), attempts and requeue,
SLURM site settings, GPUs, the controller's lock. Imports config and below."""
