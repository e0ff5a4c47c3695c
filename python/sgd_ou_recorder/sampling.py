"""The `sampling` fields of run.json (format v2), and how to read them off a data loader."""

from __future__ import annotations

import math

from ._io import check_int

SAMPLINGS = ("without_replacement", "with_replacement", "reshuffled")


def epoch_length(dataset_size, batch_size, drop_last):
    """floor(N/S) optimizer steps per epoch with drop_last, ceil(N/S) without."""
    n = check_int("dataset_size", dataset_size, 1)
    s = check_int("batch_size", batch_size, 1)
    return n // s if drop_last else math.ceil(n / s)


def sampling_fields(
    sampling,
    *,
    dataset_size,
    batch_size,
    steps_per_epoch=None,
    first_epoch_step=0,
    drop_last=None,
):
    """The run.json fields for a sampling design, validated.

    `sampling` is "without_replacement" (S fresh distinct indices each step),
    "with_replacement" (S independent uniform draws) or "reshuffled" (a new random permutation
    every epoch, cut into consecutive batches: PyTorch's DataLoader(shuffle=True)). For
    "reshuffled" `drop_last` is required and `steps_per_epoch` defaults to (and must equal)
    floor(N/S) or ceil(N/S); `first_epoch_step` is a step at which an epoch began.
    `sampling` may also be a dict as returned by :func:`describe_sampler` or
    ``sgd_ou_recorder.torch.sampling_from_loader``.
    """
    if isinstance(sampling, dict):
        d = dict(sampling)
        kind = d.pop("sampling")
        steps_per_epoch = d.pop("steps_per_epoch", steps_per_epoch)
        first_epoch_step = d.pop("first_epoch_step", first_epoch_step)
        drop_last = d.pop("drop_last", drop_last)
        if d:
            raise ValueError(f"sampling: unknown keys {sorted(d)}")
        sampling = kind
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if sampling != "reshuffled":
        if steps_per_epoch is not None or drop_last is not None:
            raise ValueError(
                f"steps_per_epoch/drop_last describe epochs of reshuffled sampling, but sampling "
                f"is {sampling!r}; pass sampling='reshuffled' or drop them"
            )
        return {"sampling": sampling}
    if not isinstance(drop_last, bool):
        raise ValueError(
            "sampling='reshuffled' needs drop_last=True or False (whether the last partial "
            "batch of each epoch is dropped; DataLoader(drop_last=...))"
        )
    want = epoch_length(dataset_size, batch_size, drop_last)
    if steps_per_epoch is None:
        steps_per_epoch = want
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, 1)
    if steps_per_epoch != want:
        raise ValueError(
            f"steps_per_epoch = {steps_per_epoch}, but N = {dataset_size} examples in batches of "
            f"S = {batch_size} with drop_last = {drop_last} make {want} steps per epoch"
        )
    return {
        "sampling": "reshuffled",
        "steps_per_epoch": steps_per_epoch,
        "first_epoch_step": check_int("first_epoch_step", first_epoch_step, 0),
        "drop_last": drop_last,
    }


def describe_sampler(sampler_kind, *, dataset_size, batch_size, drop_last, first_epoch_step=0):
    """Sampling fields from a sampler's class name, without importing any framework.

    ``"RandomSampler"`` without replacement (DataLoader(shuffle=True)) → reshuffled;
    ``"RandomSampler"`` with ``replacement=True`` → pass ``"RandomSamplerWithReplacement"``;
    ``"SequentialSampler"`` is refused (the same batches every epoch are not SGD sampling).
    """
    if sampler_kind == "RandomSampler":
        return sampling_fields(
            "reshuffled",
            dataset_size=dataset_size,
            batch_size=batch_size,
            drop_last=drop_last,
            first_epoch_step=first_epoch_step,
        )
    if sampler_kind == "RandomSamplerWithReplacement":
        return sampling_fields("with_replacement", dataset_size=dataset_size, batch_size=batch_size)
    if sampler_kind == "SequentialSampler":
        raise ValueError(
            "the DataLoader does not shuffle (SequentialSampler): every epoch visits the same "
            "batches in the same order, which is not stochastic sampling; use shuffle=True"
        )
    raise ValueError(
        f"unknown sampler {sampler_kind!r}; pass sampling=... to Recorder yourself "
        "('without_replacement', 'with_replacement' or 'reshuffled')"
    )


def noise_to_signal(grads, batch_size):
    """NSR = tr(C) / (S ‖ḡ‖²) from per-example gradients (n, d): C the covariance of the rows
    (divisor n − 1), ḡ their mean. NSR < 1: the minibatch gradient is dominated by its mean
    (drift phase); NSR > 1: by its noise (diffusion). McCandlish et al. 2018, B_simple / S."""
    import numpy as np

    g = np.asarray(grads, dtype=np.float64)
    gbar = g.mean(axis=0)
    tr_c = ((g - gbar) ** 2).sum() / (g.shape[0] - 1)
    return float(tr_c / (batch_size * float(gbar @ gbar)))
