"""sgd_ou_recorder: write SGD training runs in the sgd-ou run-directory format v2.

NumPy only at import; the PyTorch and JAX helpers live in ``sgd_ou_recorder.torch`` and
``sgd_ou_recorder.jax`` and import their framework when used.

    from sgd_ou_recorder import Recorder, lanczos
"""

from .lanczos import Eigenpairs, in_basis, lanczos, sign_convention
from .recorder import FORMAT_VERSION, Recorder, parameter_map
from .sampling import describe_sampler, epoch_length, noise_to_signal, sampling_fields

__all__ = [
    "FORMAT_VERSION",
    "Eigenpairs",
    "Recorder",
    "describe_sampler",
    "epoch_length",
    "in_basis",
    "lanczos",
    "noise_to_signal",
    "parameter_map",
    "sampling_fields",
    "sign_convention",
]
__version__ = "0.2.0"
