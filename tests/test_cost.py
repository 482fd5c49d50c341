"""The cost estimate that orders training jobs (longest first)."""

from mnist_sweep.cost import multiply_adds_per_image, training_cost


def test_tutorial_mlp_multiply_adds():
    assert multiply_adds_per_image("mlp", [512, 512]) == 784 * 512 + 512 * 512 + 512 * 10


def test_bigger_and_longer_runs_rank_first():
    tutorial = training_cost("mlp", [512, 512], 4)
    assert training_cost("mlp", [1024, 1024], 4) > tutorial > training_cost("mlp", [256, 256], 4)
    assert training_cost("mlp", [512, 512], 8) > tutorial > training_cost("mlp", [512, 512], 1)
    assert training_cost("cnn", [512, 512], 4) > tutorial  # the convnet costs more per image
    assert training_cost("mlp", [32], 1) > 0  # every run gets a positive priority
