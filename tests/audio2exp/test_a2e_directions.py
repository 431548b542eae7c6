"""The speech-driven directions: exact linear readouts of the decoded landmark geometry, and
the loss terms built on them."""

from __future__ import annotations

import numpy as np
import torch

from audio2exp.directions import DIRECTION_NAMES, directions_for, geometric_values, speech_directions
from audio2exp.train import Audio2ExpTrainConfig, _direction_loss
from minerf.prepare.expression_space import load_expression_space, mouth_opening


def test_directions_equal_the_geometry_of_decoded_points():
    space = load_expression_space()
    directions = speech_directions(space)
    rng = np.random.default_rng(0)
    e = rng.standard_normal((20, space.dim))
    identity = space.mean_shape
    geometric = geometric_values(space, space.decode(identity, e)) - geometric_values(space, space.decode(identity, np.zeros((1, space.dim))))
    np.testing.assert_allclose(directions.values(e), geometric, atol=1e-9)
    assert directions.names == DIRECTION_NAMES


def test_moving_along_the_opening_readout_opens_the_inner_lips():
    space = load_expression_space()
    w = speech_directions(space).weights[0]
    steps = np.linspace(0, 4, 5)[:, None] * w[None] / np.linalg.norm(w) ** 2 * 0.05  # opening +0..0.2
    points = space.decode(space.mean_shape, steps)
    gap = mouth_opening(points)  # the inner-lip gap over the eye distance, as tracked
    assert np.all(np.diff(gap) > 0)
    # and the readout says by how much: within the tracked measure's nonlinearity (|.|, 2D)
    np.testing.assert_allclose(np.diff(speech_directions(space).values(steps)[:, 0]), 0.05, rtol=1e-9)


def test_a_space_without_a_decodable_basis_gets_the_fitted_opening_readout():
    readout = np.array([0.5, -1.0, 0.0, 2.0])
    directions = directions_for("synthetic-v1", 3, readout)
    assert directions.names == ("opening",)
    np.testing.assert_array_equal(directions.weights, readout[None, :-1])


def test_the_spread_term_penalises_a_shrunk_prediction_and_not_an_exact_one():
    torch.manual_seed(0)
    target = torch.randn(4, 24, 3)
    mask = torch.ones(4, 24)
    direction_map = torch.eye(3)
    config = Audio2ExpTrainConfig(direction_weight=0.0, spread_weight=1.0)
    exact = _direction_loss(target[None], target, mask, direction_map, config)
    shrunk = _direction_loss(0.5 * target[None], target, mask, direction_map, config)
    assert float(exact) < 1e-6
    assert float(shrunk) > 0.1
    # the direction error alone: 0 exact, the mean squared error otherwise
    config = Audio2ExpTrainConfig(direction_weight=1.0, spread_weight=0.0)
    err = _direction_loss(0.5 * target[None], target, mask, direction_map, config)
    torch.testing.assert_close(err, ((0.5 * target) ** 2).mean())
