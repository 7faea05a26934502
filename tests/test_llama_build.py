"""llama.cpp is built for this CPU without AMX (its kernels crash on Q4_K), and the build is checked."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from briefbot import Settings
from briefbot.backends.llama_build import check_build, cpu_flags, features, system_info
from briefbot.cli import main
from briefbot.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent
SAPPHIRE_RAPIDS_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
    "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
)
SAPPHIRE_RAPIDS_FLAGS = {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2", "avx_vnni", "avx512f", "avx512cd", "avx512vl",
                         "avx512dq", "avx512bw", "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"}
HASWELL_FLAGS = {"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"}


def llama_wheel_script():
    spec = importlib.util.spec_from_file_location("llama_wheel", ROOT / "scripts" / "llama_wheel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_features_are_read_from_llama_cpps_system_info():
    assert features(SAPPHIRE_RAPIDS_INFO)[:4] == ["SSE3", "SSSE3", "AVX", "AVX2"]
    assert "AMX_INT8" in features(SAPPHIRE_RAPIDS_INFO)
    assert "AMX_INT8" not in features(SAPPHIRE_RAPIDS_INFO.replace("AMX_INT8 = 1", "AMX_INT8 = 0"))


def test_an_amx_build_is_refused_unless_amx_is_allowed():
    with pytest.raises(ModelError, match=r"uses AMX \(AMX_INT8\).*BRIEFBOT_ALLOW_AMX=1"):
        check_build(False, SAPPHIRE_RAPIDS_INFO, SAPPHIRE_RAPIDS_FLAGS)
    check_build(True, SAPPHIRE_RAPIDS_INFO, SAPPHIRE_RAPIDS_FLAGS)


def test_a_build_for_another_cpu_is_refused_before_it_can_crash():
    avx512_build = SAPPHIRE_RAPIDS_INFO.replace("AMX_INT8 = 1 | ", "")
    with pytest.raises(ModelError, match="needs AVX512, AVX512_VBMI, AVX512_VNNI, AVX512_BF16, which this CPU lacks"):
        check_build(False, avx512_build, HASWELL_FLAGS)


def test_the_loaded_llama_cpp_reports_no_amx_unless_allowed():
    """The build in use: AMX only with BRIEFBOT_ALLOW_AMX, and nothing this CPU cannot run."""
    built = features()
    assert "AVX2" in built or cpu_flags() is None, system_info()
    if not Settings().allow_amx:
        assert not {"AMX_INT8", "AMX_BF16", "AMX_TILE"} & set(built), system_info()
    check_build(Settings().allow_amx)


@pytest.mark.parametrize(
    "flags, allow_amx, on, off",
    [
        (HASWELL_FLAGS, False, {"AVX2", "FMA", "F16C", "BMI2"}, {"AVX512", "AVX512_VNNI", "AMX_INT8"}),
        (SAPPHIRE_RAPIDS_FLAGS, False, {"AVX512", "AVX512_VNNI", "AVX512_BF16", "AVX_VNNI"}, {"AMX_TILE", "AMX_INT8", "AMX_BF16"}),
        (SAPPHIRE_RAPIDS_FLAGS, True, {"AVX512", "AMX_TILE", "AMX_INT8"}, set()),
    ],
)
def test_set_up_switches_on_exactly_what_the_cpu_has_and_amx_only_when_allowed(flags, allow_amx, on, off):
    args = llama_wheel_script().cmake_args(flags, allow_amx)
    assert "-DGGML_NATIVE=OFF" in args
    assert {f"-DGGML_{name}=ON" for name in on} <= set(args)
    assert {f"-DGGML_{name}=OFF" for name in off} <= set(args)
    assert not {f"-DGGML_{name}=ON" for name in off} & set(args)


def test_the_wheel_is_keyed_by_its_configuration(monkeypatch):
    script = llama_wheel_script()
    base = {"package": "llama-cpp-python==0.3.36", "compiler": "cc 12", "python": "cpython-311-x86_64"}
    keys = {
        script.key(dict(base, cmake_args=script.cmake_args(flags, amx)))
        for flags, amx in [(HASWELL_FLAGS, False), (SAPPHIRE_RAPIDS_FLAGS, False), (SAPPHIRE_RAPIDS_FLAGS, True)]
    }
    assert len(keys) == 3
    described = json.loads(subprocess.run([sys.executable, str(ROOT / "scripts" / "llama_wheel.py"), "--describe"],
                                          capture_output=True, text=True, check=True).stdout)
    assert described["wheel_dir"].endswith(described["key"])
    assert "-DGGML_NATIVE=OFF" in described["cmake_args"] or "-DGGML_NATIVE=ON" in described["cmake_args"]


def test_version_prints_what_this_machine_runs_on_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BRIEFBOT_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("BRIEFBOT_N_THREADS", "3")
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert line.startswith("briefbot 0.1.0 · llama-cpp-python ")
    assert "AMX off" in line or Settings().allow_amx
    assert "AVX2" in line
    assert "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" in line
    assert f"index {tmp_path / 'idx'}" in line and "3 threads" in line
