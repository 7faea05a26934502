"""Build (once) and locate the llama-cpp-python wheel for this CPU, keyed by its build configuration.

Why not llama-cpp-python's default build: it compiles llama.cpp with GGML_NATIVE=ON, which on a Xeon
with AMX compiles in the AMX backend that segfaults on Q4_K tensors (ggml-org/llama.cpp#20824), and
pip caches the built wheel under the sdist's hash whatever CMAKE_ARGS were, so a wheel built for
another CPU or another configuration is silently reused.

Why not llama.cpp's runtime dispatch (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS): llama-cpp-python's
CMake installs only `ggml-cpu`, not the per-variant libraries, and exposes no ggml_backend_load_all
(abetlen/llama-cpp-python#2069), so it would mean patching their build.

So: GGML_NATIVE=OFF and llama.cpp's own x86 feature switches, each one on exactly when this CPU has
it; the AMX switches only with BRIEFBOT_ALLOW_AMX=1. The wheel goes to a directory named by the hash
of everything that shapes it (package version, switches, compiler, Python), so a second set-up on
the same machine reuses it and any other configuration builds its own.

Usage: python scripts/llama_wheel.py  → prints the wheel's path (builds it first if needed)
       python scripts/llama_wheel.py --describe  → prints the configuration and its key, builds nothing
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# llama.cpp's GGML_* x86 switches and the /proc/cpuinfo flags each one needs (GGML_AVX512 compiles
# -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw, see ggml-cpu/CMakeLists.txt).
X86_SWITCHES = {
    "SSE42": ["sse4_2"],
    "AVX": ["avx"],
    "F16C": ["f16c"],
    "FMA": ["fma"],
    "AVX2": ["avx2"],
    "BMI2": ["bmi2"],
    "AVX_VNNI": ["avx_vnni"],
    "AVX512": ["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"],
    "AVX512_VBMI": ["avx512vbmi"],
    "AVX512_VNNI": ["avx512_vnni"],
    "AVX512_BF16": ["avx512_bf16"],
}
AMX_SWITCHES = {"AMX_TILE": ["amx_tile"], "AMX_INT8": ["amx_int8"], "AMX_BF16": ["amx_bf16"]}


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def allow_amx() -> bool:
    return os.environ.get("BRIEFBOT_ALLOW_AMX", "").strip().lower() in {"1", "true", "yes", "on"}


def cmake_args(flags: set[str], amx: bool) -> list[str]:
    if platform.machine() not in {"x86_64", "AMD64"}:
        return ["-DGGML_NATIVE=ON"]  # no AMX off x86; the native build is keyed by the CPU flags below
    if "avx2" not in flags:
        sys.exit("briefbot's local model needs an x86-64 CPU with AVX2 (this one has none)")
    switches = dict(X86_SWITCHES, **(AMX_SWITCHES if amx else {}))
    args = ["-DGGML_NATIVE=OFF"]
    for name, needs in switches.items():
        args.append(f"-DGGML_{name}={'ON' if set(needs) <= flags else 'OFF'}")
    if not amx:
        args += [f"-DGGML_{name}=OFF" for name in AMX_SWITCHES]
    return args


def pinned_version() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        match = re.fullmatch(r"llama-cpp-python==([\w.]+)", dep.replace(" ", ""))
        if match:
            return match.group(1)
    sys.exit("pyproject.toml pins no llama-cpp-python version")


def compiler() -> str:
    out = subprocess.run(["cc", "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


def configuration() -> dict:
    flags = cpu_flags()
    config = {
        "package": f"llama-cpp-python=={pinned_version()}",
        "cmake_args": cmake_args(flags, allow_amx()),
        "compiler": compiler(),
        "python": f"{sys.implementation.cache_tag}-{platform.machine()}",
    }
    if "-DGGML_NATIVE=ON" in config["cmake_args"]:
        config["cpu_flags"] = sorted(flags)
    return config


def wheel_home() -> Path:
    base = os.environ.get("BRIEFBOT_WHEEL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "briefbot", "wheels"
    )
    return Path(base)


def key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def build(config: dict, target: Path, python: str) -> None:
    """Build into a staging dir and rename it into place, so a killed build leaves no half wheel dir."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    env = dict(os.environ, CMAKE_ARGS=" ".join(config["cmake_args"]),
               CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2), FORCE_CMAKE="1")
    print(f"· building {config['package']} with {env['CMAKE_ARGS']} (~7 min on 2 cores)", file=sys.stderr)
    try:
        subprocess.run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir",
                        "--no-binary", "llama-cpp-python", config["package"], "-w", str(staging)],
                       env=env, check=True)
        (staging / "configuration.json").write_text(json.dumps(config, indent=2) + "\n")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> None:
    config = configuration()
    target = wheel_home() / f"llama-cpp-python-{key(config)}"
    if "--describe" in sys.argv:
        print(json.dumps(dict(config, key=key(config), wheel_dir=str(target)), indent=2))
        return
    if not any(target.glob("*.whl")):
        build(config, target, sys.executable)
    print(next(target.glob("*.whl")))


if __name__ == "__main__":
    main()
