"""PyTorch helpers (skipped visibly when torch is not installed; CPU wheel:
pip install torch --index-url https://download.pytorch.org/whl/cpu)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="SKIPPED: torch not installed "
    "(pip install torch --index-url https://download.pytorch.org/whl/cpu)")

from sgd_ou_recorder import Recorder  # noqa: E402
from sgd_ou_recorder import torch as st  # noqa: E402


def make():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    model = model.double()
    x = torch.randn(100, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (100,))
    return model, x, y


def test_shuffled_dataloader_is_recorded_as_reshuffled():
    _, x, y = make()
    ds = torch.utils.data.TensorDataset(x, y)
    for drop_last, steps in ((False, 4), (True, 3)):
        loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, drop_last=drop_last)
        f = st.sampling_from_loader(loader)
        assert f == {"sampling": "reshuffled", "steps_per_epoch": steps, "first_epoch_step": 0,
                     "drop_last": drop_last}
        assert len(loader) == steps
    with pytest.raises(ValueError, match="does not shuffle"):
        st.sampling_from_loader(torch.utils.data.DataLoader(ds, batch_size=32))


def test_parameter_map_and_per_example_grads():
    model, x, y = make()
    assert st.parameter_map(model) == [("0.weight", (5, 3)), ("0.bias", (5,)),
                                       ("2.weight", (2, 5)), ("2.bias", (2,))]
    loss = torch.nn.functional.cross_entropy
    g = st.per_example_grads(model, loss, x, y)
    assert g.shape == (100, 32)
    model.zero_grad()
    loss(model(x), y).backward()
    mean = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(g.mean(0), mean)


def test_hessian_eigenpairs_match_the_dense_hessian():
    model, x, y = make()
    loss = torch.nn.functional.cross_entropy
    e = st.hessian_eigenpairs(model, loss, x, y, 3)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = st.flat_params(model)

    def f(t):
        parts, i = {}, 0
        for n, s in zip(names, shapes):
            parts[n] = t[i:i + s.numel()].reshape(s)
            i += s.numel()
        return loss(torch.func.functional_call(model, parts, (x,)), y)

    h = torch.autograd.functional.hessian(f, torch.as_tensor(theta)).numpy()
    ref = np.sort(np.linalg.eigvalsh(h))[::-1][:3]
    np.testing.assert_allclose(e.eigvals, ref, rtol=1e-8)


def test_torch_run_verifies(tmp_path, sgd_ou):
    model, x, y = make()
    loss = torch.nn.functional.cross_entropy
    ds = torch.utils.data.TensorDataset(x, y)
    g = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=10, shuffle=True, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = Recorder(tmp_path / "run", learning_rate=0.1, batch_size=10, dataset_size=100,
                 sampling=st.sampling_from_loader(loader), parameters=st.parameter_map(model))
    step = 0
    for _ in range(30):
        for xb, yb in loader:
            if step in (150, 200, 250):
                r.checkpoint(step, st.flat_params(model), st.per_example_grads(model, loss, x, y))
            r.trajectory_point(step, st.flat_params(model))
            opt.zero_grad()
            loss(model(xb), yb).backward()
            opt.step()
            step += 1
    run = r.close()
    assert json.loads((run / "run.json").read_text())["steps_per_epoch"] == 10
    proc = sgd_ou("verify", "--run-dir", run)
    assert proc.returncode in (0, 1, 3), proc.stderr
