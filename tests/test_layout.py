"""The layout promise: three import names from three folders, and the standard library's
`platform` never shadowed."""

import ast
import subprocess
import zipfile
from pathlib import Path

import pytest
from support import PYTHON, REPO


def test_platform_folder_is_a_namespace_package():
    assert (REPO / "platform").is_dir()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_stdlib_platform_and_unimo_namespaces_import_from_repo_root():
    # `python -c` puts the current directory (the repo root) first on sys.path: the
    # situation of pytest, scripts and Ray workers under --working-dir.
    code = (
        "import platform, sysconfig, os; "
        "assert platform.system(); "
        "assert os.path.dirname(platform.__file__) == sysconfig.get_paths()['stdlib'], platform.__file__; "
        "import unimo.platform.config, unimo.platform.storage, unimo.pipelines, unimo.models; "
        "import ray, torch; print('ok', platform.system())"
    )
    out = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


# what each layer may import from unimo: models use pipelines (schemas, readers) and
# platform; pipelines use platform; platform stands alone
ALLOWED = {"platform": {"platform"}, "pipelines": {"platform", "pipelines"},
           "models": {"platform", "pipelines", "models"}}


def unimo_imports(path: Path) -> set[tuple[str, int]]:
    """(layer, line) of every unimo import in a file, the ones inside functions too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        found |= {(n.split(".")[1], node.lineno) for n in names if n.startswith("unimo.") and n.count(".") >= 1}
    return found


def test_imports_run_one_way_from_models_to_pipelines_to_platform():
    wrong = [f"{path.relative_to(REPO)}:{line} imports unimo.{layer}"
             for folder, allowed in ALLOWED.items() for path in sorted((REPO / folder).rglob("*.py"))
             for layer, line in sorted(unimo_imports(path)) if layer not in allowed]
    assert wrong == []
    # the scan sees top-level and in-function imports alike
    assert {"pipelines", "platform"} <= {layer for layer, _ in unimo_imports(REPO / "models" / "pretokenize.py")}


@pytest.mark.slow
def test_wheel_maps_folders_to_unimo_namespace(tmp_path):
    build = subprocess.run(
        [PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("unimo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "unimo/platform/config.py" in names
    assert "unimo/pipelines/__init__.py" in names
    assert "unimo/models/__init__.py" in names
    assert "unimo/platform/__init__.py" not in names
    assert not any(n.startswith("platform/") for n in names)
    # every module of the source tree ships: a subpackage missing from pyproject would not
    source = {f"unimo/{p.relative_to(REPO).as_posix()}" for folder in ("platform", "pipelines", "models")
              for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts}
    assert source - set(names) == set()

    # a fresh venv, the wheel installed by pip, the source tree nowhere on the path: its
    # dependencies come from this venv's site-packages through a .pth line (which adds the
    # folder but runs none of its .pth files, so the editable install of unimo stays out)
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    vpy = venv / "bin" / "python"
    site_of = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    fresh_site = subprocess.run([vpy, "-c", site_of], capture_output=True, text=True, check=True).stdout.strip()
    deps_site = subprocess.run([PYTHON, "-c", site_of], capture_output=True, text=True, check=True).stdout.strip()
    (Path(fresh_site) / "deps.pth").write_text(deps_site + "\n")
    install = subprocess.run([PYTHON, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in names if n.endswith(".py"))
    code = ("import importlib, platform, sys; platform.system()\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            "import unimo.platform.config as c; print(len(sys.modules), c.__file__)")
    out = subprocess.run([vpy, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().split()[-1].startswith(fresh_site)
