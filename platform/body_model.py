"""The SMPL body model: loaded through smplx from a path in config, or the stand-in.

    body_model: standin                       # generated stand-in (not SMPL), the default
    body_model: /models/smpl                  # a folder holding SMPL_NEUTRAL.pkl
    body_model: /models/smpl/SMPL_NEUTRAL.pkl # or the file itself
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import pickle
from dataclasses import dataclass

from unimo.platform.errors import UnimoError

STANDIN = "standin"
SMPL_FILENAME = "SMPL_NEUTRAL.pkl"
_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


class BodyModelError(UnimoError):
    """A missing or malformed SMPL model file."""


@dataclass(frozen=True)
class BodyModelInfo:
    path: str
    is_standin: bool


def _cache_dir() -> str:
    # A node-local folder (smplx reads local files only), shared by the processes of a node.
    return os.environ.get("UNIMO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "unimo")


def standin_path() -> str:
    """The stand-in model file, generated on first use on each machine (deterministic)."""
    from unimo.platform import standin_body

    path = os.path.join(_cache_dir(), "body_models", standin_body.VERSION, SMPL_FILENAME)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump(standin_body.build(), f, protocol=4)
        os.replace(tmp, path)
    return path


def resolve(spec: str) -> BodyModelInfo:
    """Where the model file is, checked: 'standin', a folder with SMPL_NEUTRAL.pkl, or a file."""
    if spec == STANDIN:
        return BodyModelInfo(standin_path(), True)
    path = os.path.abspath(os.path.expanduser(spec))
    if os.path.isdir(path):
        path = os.path.join(path, SMPL_FILENAME)
    if not os.path.isfile(path):
        raise BodyModelError(
            f"body model '{spec}' not found: expected a SMPL pickle ({SMPL_FILENAME}) or a folder holding one, "
            f"or body_model={STANDIN} for the generated stand-in"
        )
    return BodyModelInfo(path, False)


def _check_pickle(path: str) -> None:
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise BodyModelError(f"body model '{path}' is not a readable SMPL pickle ({type(e).__name__}: {e})") from None
    missing = [k for k in _REQUIRED_KEYS if k not in data] if isinstance(data, dict) else list(_REQUIRED_KEYS)
    if missing:
        raise BodyModelError(f"body model '{path}' is malformed: missing {', '.join(missing)}")
    if data["J_regressor"].shape[0] != 24:
        raise BodyModelError(f"body model '{path}' has {data['J_regressor'].shape[0]} joints; SMPL has 24")


@functools.lru_cache(maxsize=4)
def load_smpl(spec: str = STANDIN, num_betas: int = 10):
    """A `smplx.SMPL` (cached per process). Raises BodyModelError with a one-line reason."""
    import smplx

    info = resolve(spec)
    _check_pickle(info.path)
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for 10-beta models
        model = smplx.SMPL(model_path=info.path, num_betas=num_betas)
    model.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=4)
def load_kinematics(spec: str = STANDIN):
    """The joints-only kinematics of a body model (cached per process)."""
    from unimo.platform.kinematics import JointKinematics

    return JointKinematics.from_smpl(load_smpl(spec))
