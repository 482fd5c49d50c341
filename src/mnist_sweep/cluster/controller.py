"""The controller job's time limit (profiles/slurm/controller.sh), fitted to its partition.

A controller job that asks for more time than its partition allows is refused by sbatch at best, or
pends forever (PartitionTimeLimit) at worst. So controller.sh asks here first:
`python -m mnist_sweep.cluster.controller [--partition P] [--time T] [--resubmit-seconds S]` prints
`<time limit> <seconds before it>`: the limit is CONTROLLER_TIME where the partition allows it (an
error naming the partition's MaxTime where it does not), else the partition's MaxTime up to
DEFAULT_MINUTES; the seconds are when SLURM should warn the job (--signal=B:USR1@<seconds>) so it
submits its successor, at most a quarter of the limit.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys

from mnist_sweep.cluster.deadline import parse_time_left

DEFAULT_MINUTES = 3 * 24 * 60
RESUBMIT_SECONDS = 600


def partition_max_minutes(partition: str | None) -> tuple[str, float | None]:
    """(partition name, its MaxTime in minutes; None for infinite or unknown) from sinfo: the given
    partition, or the cluster's default one (marked * by sinfo)."""
    if not shutil.which("sinfo"):
        return partition or "(default)", None
    args = ["sinfo", "-h", "-o", "%P %l"] + (["-p", partition] if partition else [])
    lines = subprocess.run(args, capture_output=True, text=True).stdout.split("\n")
    for line in lines:
        name, _, limit = line.strip().partition(" ")
        if name and (partition or name.endswith("*")):
            seconds = parse_time_left(limit)
            return name.rstrip("*"), None if seconds is None else seconds / 60
    return partition or "(default)", None


def slurm_minutes(text: str) -> float:
    """sbatch's --time forms in minutes: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    text = text.strip()
    days, _, clock = text.rpartition("-")
    parts = [float(part) for part in clock.split(":")]
    if days:
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        hours, (minutes, seconds) = 0, (parts + [0])[:2]
    return (float(days or 0) * 24 + hours) * 60 + minutes + seconds / 60


def controller_time(requested: str | None, partition: str, max_minutes: float | None,
                    resubmit_seconds: float = RESUBMIT_SECONDS) -> tuple[int, int]:
    """(time limit in minutes, seconds before it to resubmit) for the controller job; SystemExit with the
    reason when the requested limit does not fit the partition."""
    if requested:
        try:
            minutes = slurm_minutes(requested)
        except ValueError:  # not numbers
            raise SystemExit(f"error: CONTROLLER_TIME={requested!r} is not a SLURM time (minutes, or "
                             "days-hours:minutes:seconds)") from None
        if max_minutes is not None and minutes > max_minutes:
            raise SystemExit(f"error: CONTROLLER_TIME={requested} is more than partition {partition} allows "
                             f"(MaxTime {max_minutes:g} minutes): give at most that, or another "
                             "CONTROLLER_PARTITION; the controller resubmits itself before its limit anyway")
    else:
        minutes = DEFAULT_MINUTES if max_minutes is None else min(DEFAULT_MINUTES, max_minutes)
    minutes = max(1, math.floor(minutes))
    return minutes, int(min(resubmit_seconds, minutes * 60 / 4))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mnist_sweep.cluster.controller",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--partition", default=None)
    parser.add_argument("--time", default=None, help="CONTROLLER_TIME, if given")
    parser.add_argument("--resubmit-seconds", type=float, default=RESUBMIT_SECONDS)
    args = parser.parse_args(argv)
    partition, max_minutes = partition_max_minutes(args.partition)
    minutes, seconds = controller_time(args.time, partition, max_minutes, args.resubmit_seconds)
    print(minutes, seconds)


if __name__ == "__main__":
    sys.exit(main())
