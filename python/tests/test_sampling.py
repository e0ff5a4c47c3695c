"""The sampling fields of run.json, without any framework."""

import pytest

from sgd_ou_recorder import describe_sampler, epoch_length, sampling_fields


def test_reshuffled_epoch_length_follows_drop_last():
    assert epoch_length(1000, 32, drop_last=True) == 31
    assert epoch_length(1000, 32, drop_last=False) == 32
    assert epoch_length(1024, 32, drop_last=False) == 32
    f = sampling_fields("reshuffled", dataset_size=1000, batch_size=32, drop_last=False)
    assert f == {"sampling": "reshuffled", "steps_per_epoch": 32, "first_epoch_step": 0,
                 "drop_last": False}


def test_shuffled_loader_is_described_as_reshuffled():
    f = describe_sampler("RandomSampler", dataset_size=1000, batch_size=32, drop_last=True,
                         first_epoch_step=7)
    assert f == {"sampling": "reshuffled", "steps_per_epoch": 31, "first_epoch_step": 7,
                 "drop_last": True}
    assert describe_sampler("RandomSamplerWithReplacement", dataset_size=10, batch_size=2,
                            drop_last=False) == {"sampling": "with_replacement"}
    with pytest.raises(ValueError, match="does not shuffle"):
        describe_sampler("SequentialSampler", dataset_size=10, batch_size=2, drop_last=False)
    with pytest.raises(ValueError, match="unknown sampler"):
        describe_sampler("WeightedRandomSampler", dataset_size=10, batch_size=2, drop_last=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sampling="reshuffled"), "needs drop_last"),
    (dict(sampling="reshuffled", drop_last=True, steps_per_epoch=32), "make 31 steps"),
    (dict(sampling="with_replacement", drop_last=True), "describe epochs"),
    (dict(sampling="shuffled"), "must be one of"),
])
def test_bad_sampling_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sampling_fields(dataset_size=1000, batch_size=32, **kwargs)


def test_dict_form_round_trips():
    f = sampling_fields("reshuffled", dataset_size=100, batch_size=10, drop_last=True)
    assert sampling_fields(f, dataset_size=100, batch_size=10) == f
