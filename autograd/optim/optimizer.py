"""``Optimizer``: parameter groups, per-parameter state, and their (de)serialization.

As ``torch.optim.Optimizer``: an optimizer holds ``param_groups``, a list of dicts each with a
``"params"`` list and its own hyperparameters (``lr``, ``weight_decay``, ...), and ``state``, a
dict parameter -> that parameter's running statistics. Subclasses implement ``step``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from autograd.backend import get_xp, is_floating
from autograd.engine import enable_grad
from autograd.tensor import Tensor


class Optimizer:
    """Base class of the optimizers.

    Args:
        params: an iterable of parameters, or of dicts (parameter groups): each dict has a
            ``"params"`` entry and may override any of ``defaults`` for its parameters
            (``[{"params": decayed, "weight_decay": 0.01}, {"params": others,
            "weight_decay": 0.0}]``).
        defaults: the hyperparameters of groups that do not set them.

    Attributes:
        param_groups: list of dicts, ``"params"`` (a list of parameters) plus hyperparameters;
            a learning-rate scheduler changes ``group["lr"]`` here.
        state: parameter -> dict of its state (``"exp_avg"`` ...), filled by ``step``.
    """

    def __init__(self, params, defaults: dict):
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of parameters or of dicts, got a single Tensor; "
                "pass model.parameters() or [tensor]"
            )
        self.defaults = dict(defaults)
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (a dict with ``"params"``), e.g. to unfreeze layers during fine-tuning.

        Hyperparameters the group does not set are taken from ``defaults``.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise ValueError("a parameter group needs a 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            # A set's order changes between runs, and state_dict indices depend on the order.
            raise TypeError("parameter groups need an ordered collection of parameters, not a set")
        else:
            params = list(params)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for i, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(param).__name__}")
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed by an op)")
            if not is_floating(param.dtype):
                raise TypeError(f"can't optimize a tensor of dtype {param.dtype}")
            if id(param) in seen:
                raise ValueError(
                    f"parameter {i} of this group (shape {param.shape}) appears twice in the "
                    "optimizer's parameter groups; each parameter may be listed once"
                )
            seen.add(id(param))
        group = {**param_group, "params": params}
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (None), or zero it in place if ``set_to_none=False``."""
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient (subclasses implement ``_step``).

        Args:
            closure: optional; a function that recomputes the loss (and its gradients), called
                first, with grad mode on; its value is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._step()
        return loss

    def _step(self) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are replaced by their index in order of appearance across the groups (as in
        PyTorch), so the dict can be saved without the parameters. The state arrays are the
        live ones, not copies: save or ``copy.deepcopy`` it before stepping again.
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {
            index_of[id(param)]: dict(values)
            for param, values in self.state.items()
            if id(param) in index_of
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state saved by ``state_dict`` (arrays are copied).

        The optimizer must have been built over the same parameters in the same order; group
        count, group sizes and every array's shape are checked before anything changes.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("an optimizer state_dict needs the keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"the state_dict has {len(saved_groups)} parameter groups but this optimizer has "
                f"{len(self.param_groups)}"
            )
        params_by_index: dict[int, Tensor] = {}
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"parameter group {g} has {len(saved['params'])} parameters in the state_dict "
                    f"but {len(group['params'])} in this optimizer"
                )
            for index, param in zip(saved["params"], group["params"], strict=True):
                params_by_index[int(index)] = param
        new_state: defaultdict = defaultdict(dict)
        for index, values in state_dict["state"].items():
            # int(): keys become strings when a state_dict goes through JSON.
            param = params_by_index.get(int(index))
            if param is None:
                raise ValueError(
                    f"the state_dict has state for parameter {index}, which no group lists"
                )
            for name, value in values.items():
                if hasattr(value, "shape") and value.ndim > 0 and tuple(value.shape) != param.shape:
                    raise ValueError(
                        f"state '{name}' of parameter {index} has shape {tuple(value.shape)} but "
                        f"the parameter has shape {param.shape}"
                    )
                new_state[param][name] = _copy_like(value, param)
        self.state = new_state
        self.param_groups = [
            {**{k: v for k, v in saved.items() if k != "params"}, "params": group["params"]}
            for saved, group in zip(saved_groups, self.param_groups, strict=True)
        ]

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


def _copy_like(value, param: Tensor):
    """A copy of a saved state value, floating arrays cast to the parameter's dtype and device."""
    if not hasattr(value, "shape"):
        return value  # a Python number, such as the step count
    xp = get_xp(param.data)
    if isinstance(param.data, np.ndarray) and not isinstance(value, (np.ndarray, np.generic)):
        value = value.get()  # a device array back to the host, explicitly (as CuPy's .get())
    dtype = param.dtype if is_floating(value.dtype) else value.dtype
    return xp.asarray(value, dtype=dtype).copy()


def params_with_grad(group: dict) -> Iterable[Tensor]:
    """The parameters of ``group`` that have a gradient (the others are skipped by ``step``)."""
    return [p for p in group["params"] if p.grad is not None]
