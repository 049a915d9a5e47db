"""Which served model a configured name means: model ids as Foundry Local, Ollama, llama.cpp and vLLM list them.

A user writes ``phi-4-mini`` or ``gpt-oss-20b``; servers list
``Phi-4-mini-instruct-generic-cpu:4`` (Foundry Local: device and version),
``phi4-mini:latest`` (Ollama), ``../models/gpt-oss-20b-mxfp4.gguf`` (llama.cpp:
a path, a quantization) or ``openai/gpt-oss-20b`` (vLLM: an org). ``model_key``
reduces each to what identifies the model; ``resolve_model`` picks the served
id a name means, or says why none or several fit. Pure: no I/O (the client asks
the server for ``/v1/models``, see ``TierClient.served_models``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag.errors import ModelNotServed

if TYPE_CHECKING:
    from rag.tiers.client import TierConfig

__all__ = ["model_key", "resolve_model"]

# A served id, as Foundry Local, Ollama, llama.cpp and vLLM list them, reduced to the model it names:
# "Phi-4-mini-instruct-generic-cpu:4" (Foundry: device and version), "phi4-mini:latest" (Ollama),
# "../models/gpt-oss-20b-mxfp4.gguf" (llama.cpp: a path, a quantization), "openai/gpt-oss-20b" (vLLM: an org).
_VERSION_RE = re.compile(r":(?:\d+|latest)$")
_FILE_RE = re.compile(r"\.gguf$")
_QUANT_RE = re.compile(r"[-_.](?:i?q\d(?:_[a-z0-9]+)*|f16|bf16|f32|mxfp4|fp16|fp8|int4|int8|awq|gptq)$")
_DEVICE_RE = re.compile(r"-(?:(?:generic|cuda|qnn|openvino|vitis|dml|trtrtx|tensorrt|rocm)-)?(?:cpu|gpu|npu|webgpu)$")
_SEPARATORS_RE = re.compile(r"[-_:.\s]+")
_DEVICE_ORDER = ("cuda-gpu", "gpu", "webgpu", "npu", "cpu")  # when one model is served for several devices


def model_key(name: str) -> str:
    """What identifies a model across servers: ``Phi-4-mini-instruct-generic-cpu:4`` and ``phi4-mini:latest`` -> ``phi4mini``.

    Lower case; no org prefix, folder or ``.gguf``; no version (``:4``, ``:latest``), quantization
    (``-Q4_K_M``, ``-mxfp4``) or device suffix (``-generic-cpu``, ``-cuda-gpu``, ``-npu``); no
    ``instruct`` word; no separators (``-_:.``). Ollama's size tags stay: ``gpt-oss:20b`` -> ``gptoss20b``.
    """
    text = name.strip().lower().rsplit("/", 1)[-1]
    text = _VERSION_RE.sub("", _FILE_RE.sub("", text))
    for pattern in (_QUANT_RE, _DEVICE_RE):
        text = pattern.sub("", text)
    return "".join(t for t in _SEPARATORS_RE.split(text) if t and t != "instruct")


def _preference(served_id: str) -> tuple[int, int, str]:
    """Among ids of one model: GPU before NPU before CPU, then the highest version."""
    lowered = served_id.lower()
    device = next((i for i, d in enumerate(_DEVICE_ORDER) if re.search(rf"-{d}(?::\d+)?$", lowered)), len(_DEVICE_ORDER))
    version = re.search(r":(\d+)$", lowered)
    return (device, -int(version.group(1)) if version else 0, served_id)


def resolve_model(alias: str, served: list[str], config: TierConfig) -> str:
    """The served id for ``alias``: exact, else the one model whose ``model_key`` is the alias's.

    ``phi-4-mini`` -> ``Phi-4-mini-instruct-generic-cpu:4`` (Foundry Local) or ``phi4-mini:latest``
    (Ollama); ``gpt-oss-20b`` -> ``gpt-oss-20b-cuda-gpu:1`` or ``gpt-oss:20b``. Several ids of one model
    (devices, versions) -> the GPU one, then the newest. Raises ``ModelNotServed`` when none matches (a
    longer name such as ``phi-4-mini-reasoning`` is a different model: it is named, never picked) or
    when several different models match (listing them).
    """
    if alias in served:
        return alias
    folded = [s for s in served if s.lower() == alias.lower()]
    if len(folded) == 1:
        return folded[0]
    key = model_key(alias)
    same = [s for s in served if model_key(s) == key]
    tier = config.tier.upper()
    where = f"The {tier} tier at {config.base_url}"
    setting = f"RAG_{tier}_MODEL"
    if same:
        return min(same, key=_preference)
    longer = sorted(s for s in served if key and model_key(s).startswith(key))
    if len(longer) > 1:
        raise ModelNotServed(
            f"{where} serves several models that {alias!r} could mean: {', '.join(longer)}. Set {setting} to the one you want.",
            config.tier, config.base_url,
        )
    listing = ", ".join(served) or "(none)"
    nearest = f" ({longer[0]} is a different model; set {setting} to it if you want it.)" if longer else ""
    raise ModelNotServed(
        f"{where} does not serve {alias!r}; it serves: {listing}.{nearest} Set {setting} to one of them.",
        config.tier, config.base_url,
    )
