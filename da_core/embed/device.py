"""Pick the compute device: CUDA when present, else Apple's MPS, else the CPU."""

from __future__ import annotations

import contextlib
from typing import Any


def pick_device(preference: str = "auto") -> Any:
    """A ``torch.device``: ``auto`` takes CUDA, then MPS, then CPU; ``cpu``/``cuda``/``mps`` force one."""
    import torch

    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: Any) -> str:
    """Human name of a device, e.g. 'cuda (NVIDIA H100)' or 'cpu (2 threads)'."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def inference_autocast(device: Any) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision for inference on accelerators (bfloat16 when supported, else float16); none on CPU."""
    import torch

    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if device.type == "mps":
        return torch.autocast("mps", dtype=torch.float16)
    return contextlib.nullcontext()
