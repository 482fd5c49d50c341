"""The two models, each defined once, as data: the Keras MNIST MLP tutorial and the Keras MNIST
convnet example.

`layers(hyperparameters)` lists a model's layers top to bottom. Everything else derives from that
list: the Keras model (mnist_sweep.training.model builds one Keras layer per entry), the packed
MLP (mnist_sweep.training.packed reads the layers of that Keras model), and what planning needs
to know without TensorFlow: a run's arithmetic per image (its time estimate,
mnist_sweep.planning.packs) and its weights and activations (its GPU memory,
mnist_sweep.planning.gpu_memory). Changing a model here changes all of them.

A run's hyperparameters come as one mapping, and every key of it must be used by something:
the model's layers (MODEL_KEYS), its optimizer (OPTIMIZER_KEYS) or the training loop
(LOOP_KEYS, read by mnist_sweep.training.trainer). check_hyperparameters refuses any other key,
so a hyperparameter declared in the schema but used nowhere stops the first training job instead
of being recorded in metrics.json while changing nothing.
"""

from __future__ import annotations

import json

from mnist_sweep.config.hyperparameters import HYPERPARAMETERS

IMAGE_SHAPE = (28, 28, 1)
IMAGE_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
NUM_CLASSES = 10

# The optimizers offered (the schema's enum), by their class in keras.optimizers.
OPTIMIZERS = {"adam": "Adam", "nadam": "Nadam", "rmsprop": "RMSprop", "sgd": "SGD", "adagrad": "Adagrad"}
# What reads each hyperparameter. Every hyperparameter of the schema is in exactly one of these.
LOOP_KEYS = ("model", "batch_size", "epochs")
OPTIMIZER_KEYS = ("optimizer", "learning_rate", "weight_decay")
MODEL_KEYS = {"mlp": ("hidden_units", "dropout", "activation"), "cnn": ("dropout", "activation")}
# The convnet's layers are fixed (the Keras example's): a grid over hidden_units gives it nothing to change.
UNUSED_KEYS = {"mlp": (), "cnn": ("hidden_units",)}
# Hyperparameters in which the runs of one pack may differ (each replica of the packed model has
# its own value); they must agree on all the others, which make the pack's shape (shape_key).
# An optimizer option added here must act on each replica alone: see config/README.md,
# "Adding a hyperparameter".
PER_REPLICA_KEYS = ("dropout", "learning_rate", "weight_decay")
SHAPE_KEYS = tuple(name for name in HYPERPARAMETERS if name not in PER_REPLICA_KEYS)


def layers(hyperparameters: dict) -> list[tuple[str, dict]]:
    """The model's layers, top to bottom, as (kind, settings): dense, dropout, conv, pool, flatten."""
    activation, dropout = hyperparameters["activation"], hyperparameters["dropout"]
    if hyperparameters["model"] == "mlp":
        # 784 -> hidden layers (each followed by dropout) -> 10 softmax; the tutorial is [512, 512], dropout 0.2.
        hidden = [layer for units in hyperparameters["hidden_units"]
                  for layer in (("dense", {"units": units, "activation": activation}), ("dropout", {"rate": dropout}))]
        return hidden + [("dense", {"units": NUM_CLASSES, "activation": "softmax"})]
    # The Keras convnet example: two conv/pool blocks, dropout, dense softmax (its dropout is 0.5).
    return [
        ("conv", {"filters": 32, "kernel": 3, "activation": activation}),
        ("pool", {"size": 2}),
        ("conv", {"filters": 64, "kernel": 3, "activation": activation}),
        ("pool", {"size": 2}),
        ("flatten", {}),
        ("dropout", {"rate": dropout}),
        ("dense", {"units": NUM_CLASSES, "activation": "softmax"}),
    ]


def input_shape(model: str) -> tuple:
    """How images are fed: flat 784 vectors for the MLP, 28x28x1 for the convnet."""
    return (IMAGE_PIXELS,) if model == "mlp" else IMAGE_SHAPE


def layer_shapes(hyperparameters: dict) -> list[dict]:
    """Each layer with the shape it makes from one image, its weights and its multiply-adds."""
    shape = input_shape(hyperparameters["model"])
    described = []
    for kind, settings in layers(hyperparameters):
        weights = multiply_adds = 0
        if kind == "dense":
            fan_in, units = shape[-1], settings["units"]
            weights, multiply_adds, shape = fan_in * units + units, fan_in * units, (units,)
        elif kind == "conv":  # 'valid' padding, stride 1
            height, width, channels = shape
            kernel, filters = settings["kernel"], settings["filters"]
            shape = (height - kernel + 1, width - kernel + 1, filters)
            weights = kernel * kernel * channels * filters + filters
            multiply_adds = shape[0] * shape[1] * filters * kernel * kernel * channels
        elif kind == "pool":
            size = settings["size"]
            shape = (shape[0] // size, shape[1] // size, shape[2])
        elif kind == "flatten":
            shape = (_size(shape),)
        described.append({"kind": kind, "shape": shape, "weights": weights, "multiply_adds": multiply_adds})
    return described


def _size(shape: tuple) -> int:
    size = 1
    for dimension in shape:
        size *= dimension
    return size


def multiply_adds_per_image(hyperparameters: dict) -> int:
    """Forward multiply-adds of one image (training costs about three times this)."""
    return sum(layer["multiply_adds"] for layer in layer_shapes(hyperparameters))


def training_flops_per_image(hyperparameters: dict) -> int:
    """6 FLOPs per multiply-add of the forward pass (forward and backward)."""
    return 6 * multiply_adds_per_image(hyperparameters)


def parameter_count(hyperparameters: dict) -> int:
    """Weights and biases of one model (what the optimizer keeps two more copies of, for Adam)."""
    return sum(layer["weights"] for layer in layer_shapes(hyperparameters))


def activations_per_image(hyperparameters: dict) -> int:
    """Values one image leaves in the model's layers (inputs included), which training keeps for the
    backward pass (a dropout's scales are counted by gpu_memory.replica_bytes)."""
    return IMAGE_PIXELS + sum(_size(layer["shape"]) for layer in layer_shapes(hyperparameters)
                              if layer["kind"] != "dropout")


def used_keys(model: str) -> tuple:
    return LOOP_KEYS + OPTIMIZER_KEYS + MODEL_KEYS[model]


def check_hyperparameters(hyperparameters: dict) -> None:
    """Raise ValueError naming any hyperparameter that no part of training would use, or one that is missing."""
    model = hyperparameters.get("model")
    if model not in MODEL_KEYS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODEL_KEYS)}")
    used = used_keys(model)
    unused = sorted(set(hyperparameters) - set(used) - set(UNUSED_KEYS[model]))
    if unused:
        raise ValueError(
            f"hyperparameter {unused[0]!r} is not used by the {model} model (it uses {', '.join(used)}): "
            "a new hyperparameter must be read where it acts, see 'Adding a hyperparameter' in config/README.md")
    missing = [name for name in used if name not in hyperparameters]
    if missing:
        raise ValueError(f"hyperparameter {missing[0]!r} is missing; the {model} model needs {', '.join(used)}")


def shape_key(hyperparameters: dict) -> str:
    """What the runs of one pack share (the values of SHAPE_KEYS), as text."""
    return json.dumps([hyperparameters[name] for name in SHAPE_KEYS])
