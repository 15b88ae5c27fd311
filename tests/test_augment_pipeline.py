"""Pipeline.apply on the CPU: its ops run on one intra-op thread (many small calls), give the same pictures
as with torch's default thread count, and leave the caller's thread count as it was."""

from __future__ import annotations

import torch

from da_core.augment import default_pipeline


def test_apply_uses_one_cpu_thread_and_restores_the_count() -> None:
    x = torch.randint(0, 255, (32, 1, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (32,))
    pipe = default_pipeline()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen: list[int] = []
        original = torch.cat

        def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            seen.append(torch.get_num_threads())
            return original(*args, **kwargs)

        torch.cat = spy
        try:
            out = pipe.apply(x, labels=y, strength=0.3, generator=4)
        finally:
            torch.cat = original
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
        torch.set_num_threads(1)
        assert torch.equal(pipe.apply(x, labels=y, strength=0.3, generator=4).images, out.images)
    finally:
        torch.set_num_threads(before)
