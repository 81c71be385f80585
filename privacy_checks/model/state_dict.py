"""A plain state_dict checkpoint: the weights only, with the code that builds the model named as
``model.factory`` (``module:callable``) in thresholds.yaml."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from privacy_checks.errors import PrivacyInputError
from privacy_checks.model.forward_call import called_as_configured
from privacy_checks.model.forward_errors import exception_line
from privacy_checks.model.loading import config_input_spec, load_weights
from privacy_checks.model.target import Target
from privacy_checks.model.training_checkpoint import unwrapped

if TYPE_CHECKING:
    from privacy_checks.config import ModelSettings


def is_state_dict(payload: Any) -> bool:
    return isinstance(payload, Mapping) and bool(payload) and all(isinstance(v, torch.Tensor) for v in payload.values())


def from_state_dict(
    path: Path,
    fingerprint: str,
    state: Mapping[str, torch.Tensor],
    model_config: ModelSettings | None,
    state_key: str | None = None,
) -> Target:
    """The model model.factory builds, with `state` (a plain state_dict, or a training checkpoint's
    entry `state_key`) loaded and called as model.forward says."""
    what = "a plain state_dict" if state_key is None else f"a training checkpoint (weights under {state_key!r})"
    if model_config is None or not model_config.factory:
        raise PrivacyInputError(
            f"{path} is {what}: name the code that builds the model as model.factory in thresholds.yaml, "
            "e.g. `model: {factory: 'mypkg.models:build', input: {kind: logmel, sample_rate: 16000}}`."
        )
    module = _call_factory(model_config.factory, model_config.kwargs_dict())
    load_weights(module, unwrapped(state, module), path)
    spec = config_input_spec(model_config, path)
    module = called_as_configured(module.eval(), model_config, spec, path)
    kind = "state_dict" if state_key is None else f"training checkpoint ({state_key})"
    return Target(module.eval(), model_config.factory, spec, tuple(model_config.labels), fingerprint, path, kind)


IMPORT_PATH_HINT = (
    "Python imports it from sys.path, which does not hold your project's folder by itself (running pytest "
    "from the project root does not add it): add `pythonpath = .` (the folder holding the module, relative "
    "to the rootdir) under [pytest] in pytest.ini or [tool.pytest.ini_options] in pyproject.toml (pytest "
    "only: the privacy-checks command does not read it), or run with PYTHONPATH=. in the environment, or "
    "install your package (pip install -e .)"
)


def _call_factory(reference: str, kwargs: dict[str, Any]) -> nn.Module:
    module_name, _, attr = reference.partition(":")
    where = f"thresholds.yaml model.factory {reference!r}"
    try:
        owner = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.split(".")[0] == exc.name.split(".")[0]:
            raise PrivacyInputError(f"{where} cannot be imported: {exc}. {IMPORT_PATH_HINT}.") from None
        raise PrivacyInputError(  # the module was found; an import inside it failed
            f"{where}: importing {module_name!r} raised {exception_line(exc)}; install what it imports."
        ) from None
    except Exception as exc:  # the module's own code raised while it was imported
        raise PrivacyInputError(
            f"{where}: importing {module_name!r} raised {exception_line(exc)}; fix the module (import it in "
            f"python -c 'import {module_name}' to see the whole error)."
        ) from None
    factory: Any = owner
    for part in attr.split("."):  # 'module:Class.build' too
        factory = getattr(factory, part, None)
    if not callable(factory):
        found = "has no attribute" if factory is None else "is not callable:"
        raise PrivacyInputError(
            f"{where}: module {module_name!r} {found} {attr!r}; name a function or class that returns the "
            "nn.Module, as 'module:callable'."
        )
    try:
        module = factory(**kwargs)
    except Exception as exc:
        raise PrivacyInputError(
            f"{where} raised {exception_line(exc)} when called with model.kwargs {kwargs!r}; check model.kwargs "
            "in thresholds.yaml against the factory's parameters, and that the factory runs outside the audit."
        ) from None
    if not isinstance(module, nn.Module):
        raise PrivacyInputError(f"model.factory {reference!r} returned {type(module).__name__}, not an nn.Module.")
    return module
