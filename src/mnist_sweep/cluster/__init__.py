"""Layer 2, cluster: where a job runs. Time left and signals (deadline, signals), attempts and requeue,
SLURM site settings and the plugin's sacct and sbatch, GPUs, the controller's lock and time limit, and how
the sweep stops on request (interruption). Imports config and below."""
