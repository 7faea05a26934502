"""What the loaded llama.cpp was compiled with, checked before a model is loaded.

llama.cpp's AMX backend segfaults on Q4_K tensors (ggml-org/llama.cpp#20824), and a crash inside it
takes the whole process with it, so a build that reports AMX is refused unless the user turned AMX
on (Settings.allow_amx / BRIEFBOT_ALLOW_AMX, also read by scripts/llama_wheel.py at set-up).
"""

from __future__ import annotations

import re
from pathlib import Path

from briefbot.errors import ModelError

AMX_FEATURES = ("AMX_INT8", "AMX_BF16", "AMX_TILE")
# llama.cpp's feature names and the /proc/cpuinfo flags the CPU needs to run code built with them.
CPU_FLAGS_NEEDED = {
    "AVX": "avx", "AVX2": "avx2", "F16C": "f16c", "FMA": "fma", "BMI2": "bmi2", "AVX_VNNI": "avx_vnni",
    "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi", "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8", "AMX_BF16": "amx_bf16",
}
_FEATURE = re.compile(r"([A-Z0-9_]+) = 1\b")


def system_info() -> str:
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def features(info: str | None = None) -> list[str]:
    """Features the build reports as on, in llama.cpp's order ("AVX2", "AVX512", "AMX_INT8", …)."""
    return _FEATURE.findall(system_info() if info is None else info)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """This CPU's flags, or None where /proc/cpuinfo has none (not Linux on x86)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def check_build(allow_amx: bool, info: str | None = None, flags: set[str] | None = None) -> None:
    """ModelError when the build uses AMX without allow_amx, or needs instructions this CPU lacks."""
    built = features(info)
    amx = [name for name in built if name in AMX_FEATURES]
    if amx and not allow_amx:
        raise ModelError(
            f"this llama.cpp build uses AMX ({', '.join(amx)}), whose kernels crash on this model "
            "(llama.cpp#20824): run scripts/setup.sh to rebuild it without AMX, or set BRIEFBOT_ALLOW_AMX=1 "
            "if your llama.cpp has the fix"
        )
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return
    missing = [name for name in built if name in CPU_FLAGS_NEEDED and CPU_FLAGS_NEEDED[name] not in flags]
    if missing:
        raise ModelError(
            f"this llama.cpp build needs {', '.join(missing)}, which this CPU lacks (it was built on another "
            "machine): run scripts/setup.sh to build it for this one"
        )
