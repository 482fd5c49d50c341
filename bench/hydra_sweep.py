"""Peer: Hydra multirun (basic launcher) sweeping the tutorial's training function in one process.

    python bench/hydra_sweep.py --multirun data=/path/to/mnist.npz dropout=0.2,0.5 hidden=512,256 seed=0,1,2
"""

from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore

from tutorial_baseline import train


@dataclass
class Config:
    data: str = "mnist.npz"
    seed: int = 0
    dropout: float = 0.2
    hidden: int = 512


ConfigStore.instance().store(name="config", node=Config)


@hydra.main(version_base=None, config_name="config")
def main(config: Config) -> float:
    result = train(config.data, config.seed, config.dropout, config.hidden)
    print(f"hydra run seed={config.seed} dropout={config.dropout} hidden={config.hidden}: "
          f"test_accuracy {result['test_accuracy']:.4f}", flush=True)
    return result["test_accuracy"]


if __name__ == "__main__":
    main()
