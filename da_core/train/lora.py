"""LoRA (Hu et al. 2021) on a backbone with the ``peft`` library: low-rank adapters injected into the named
modules (a text encoder's query and value projections by default), everything else frozen, and the parameter
counts a run reports (how many it trains, of how many)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from da_core.errors import SpecError
from da_core.train.config import TrainConfig


def with_lora(module: nn.Module, config: TrainConfig, default_targets: tuple[str, ...]) -> nn.Module:
    """``module`` with LoRA adapters of rank ``lora_rank`` and scaling ``lora_alpha`` on ``lora_targets`` (or
    ``default_targets``), in place; only the adapters keep ``requires_grad``.  :class:`SpecError` names a target
    the model does not have, or says which modules could be adapted when there is no default."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise SpecError("mode: 'lora' needs the peft package; run make setup (or pip install peft)") from None
    targets = list(config.lora_targets or default_targets)
    linear = sorted({name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, nn.Linear)})
    if not targets:
        raise SpecError(f"lora_targets: this backbone has no default modules for LoRA; name some of its linear "
                        f"layers, e.g. {', '.join(linear[:6]) or '(it has none)'}")
    leaves = {name.rsplit(".", 1)[-1] for name, _ in module.named_modules()}
    missing = [t for t in targets if t not in leaves]
    if missing:
        raise SpecError(f"lora_targets: the backbone has no module named {missing[0]!r}; its linear layers are "
                        f"named {', '.join(linear[:12])}")
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none")
    module = inject_adapter_in_model(lora, module)
    for name, p in module.named_parameters():
        p.requires_grad_("lora_" in name)
    return module


def parameter_counts(optimizer: torch.optim.Optimizer, *modules: nn.Module) -> dict[str, Any]:
    """``trainable`` (the parameters the optimiser updates), ``total`` (those and every parameter of ``modules``)
    and the trainable ``share``."""
    trained = {id(p): p.numel() for group in optimizer.param_groups for p in group["params"]}
    everything = dict(trained)
    for module in modules:
        everything.update({id(p): p.numel() for p in module.parameters()})
    total = sum(everything.values())
    return {"trainable": sum(trained.values()), "total": total,
            "share": sum(trained.values()) / total if total else 0.0}

