"""The layout promise: three import names from three folders, and the standard library's
`platform` never shadowed."""

import subprocess
import zipfile

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

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import platform; platform.system(); import unimo.platform.config as c; "
            "import unimo.models.training.session, unimo.models.motion_tokenizer.stage; print(c.__file__)")
    out = subprocess.run([PYTHON, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(site))
