"""A generated stand-in for the SMPL body model. It is NOT SMPL.

SMPL's licence forbids redistributing its files and none can be downloaded here, yet the
platform, its demo and its tests need a body model. This module builds one in SMPL's file
format, so `smplx.SMPL` loads it unchanged and every code path is the one real SMPL takes:

- SMPL's 24 joints, in SMPL's order and kinematic tree, in a T-pose (y up, +x the body's
  left, +z forward), about 1.70 m tall at betas = 0;
- 6890 vertices forming 13 closed capsule-like parts (a mannequin), with vertices placed at
  smplx's default extra-keypoint ids (nose, eyes, ears, toes, heels, fingertips);
- 10 shape directions with a meaning each (`BETA_MEANINGS`), one standard deviation per unit;
- smooth skinning weights, and a joint regressor that reproduces the joints from the mesh;
- zero pose blend shapes.

Use real SMPL whenever you have it: every job takes `body_model=/path/to/SMPL_NEUTRAL.pkl`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from unimo.platform.smpl_skeleton import JOINT, NUM_JOINTS, PARENTS

VERSION = "standin-v1"
NUM_VERTICES = 6890
NUM_BETAS = 10
RING_SEGMENTS = 24

BETA_MEANINGS = [
    "height (uniform scale, +-5% per unit)",
    "girth (limb and torso thickness, +-12%)",
    "leg length (+-6%)",
    "arm length (+-6%)",
    "shoulder width (+-12%)",
    "hip width (+-12%)",
    "torso length (+-6%)",
    "head size (+-7%)",
    "belly (waist depth, +-25%)",
    "neck length (+-20%)",
]
_BETA_SCALE = np.array([0.05, 0.12, 0.06, 0.06, 0.12, 0.12, 0.06, 0.07, 0.25, 0.20])

# smplx's default extra keypoints (VERTEX_IDS["smplh"]) and where they sit on this body.
LANDMARKS = {
    332: "nose", 6260: "reye", 2800: "leye", 4071: "rear", 583: "lear",
    6191: "rthumb", 5782: "rindex", 5905: "rmiddle", 6016: "rring", 6133: "rpinky",
    2746: "lthumb", 2319: "lindex", 2445: "lmiddle", 2556: "lring", 2673: "lpinky",
    3216: "LBigToe", 3226: "LSmallToe", 3387: "LHeel", 6617: "RBigToe", 6624: "RSmallToe", 6787: "RHeel",
}


def _skeleton(b: np.ndarray) -> np.ndarray:
    """Rest joints (24, 3) for shape parameters b (10,) in standard deviations."""
    k = 1 + _BETA_SCALE * b
    height, _, leg, arm, shoulder, hip, torso, _, _, neck = k
    J = np.zeros((NUM_JOINTS, 3))
    for side, s in (("left", 1.0), ("right", -1.0)):
        J[JOINT[f"{side}_hip"]] = [s * 0.09 * hip, -0.08, 0.0]
        J[JOINT[f"{side}_knee"]] = J[JOINT[f"{side}_hip"]] + np.array([s * 0.01, -0.39 * leg, 0.005])
        J[JOINT[f"{side}_ankle"]] = J[JOINT[f"{side}_knee"]] + np.array([0.0, -0.40 * leg, -0.03])
        J[JOINT[f"{side}_foot"]] = J[JOINT[f"{side}_ankle"]] + np.array([s * 0.01, -0.055, 0.12])
    J[JOINT["spine1"]] = [0, 0.11 * torso, -0.01]
    J[JOINT["spine2"]] = J[JOINT["spine1"]] + [0, 0.13 * torso, 0.01]
    J[JOINT["spine3"]] = J[JOINT["spine2"]] + [0, 0.06 * torso, 0.01]
    J[JOINT["neck"]] = J[JOINT["spine3"]] + [0, 0.20 * torso, -0.02]
    J[JOINT["head"]] = J[JOINT["neck"]] + [0, 0.08 * neck, 0.03]
    for side, s in (("left", 1.0), ("right", -1.0)):
        J[JOINT[f"{side}_collar"]] = J[JOINT["spine3"]] + [s * 0.07 * shoulder, 0.12 * torso, -0.01]
        J[JOINT[f"{side}_shoulder"]] = J[JOINT[f"{side}_collar"]] + [s * 0.11 * shoulder, 0.02, -0.01]
        J[JOINT[f"{side}_elbow"]] = J[JOINT[f"{side}_shoulder"]] + [s * 0.26 * arm, 0, -0.01]
        J[JOINT[f"{side}_wrist"]] = J[JOINT[f"{side}_elbow"]] + [s * 0.25 * arm, 0, 0.01]
        J[JOINT[f"{side}_hand"]] = J[JOINT[f"{side}_wrist"]] + [s * 0.09 * arm, -0.005, 0]
    return J * height


def _parts(J: np.ndarray, b: np.ndarray) -> list[dict]:
    """The 13 body parts: axis end points, radius profile, rings and skinning chain."""
    k = 1 + _BETA_SCALE * b
    height, girth, _, _, shoulder, hip, _, head_size, belly, _ = k
    g = girth * height
    sole = min(J[JOINT["left_ankle"], 1], J[JOINT["right_ankle"], 1]) - 0.075 * height
    parts = [
        dict(name="torso", a=[0, J[0, 1] - 0.14 * height, 0], b=[0, J[JOINT["neck"], 1] + 0.005, -0.01], rings=50, cap=0.25,
             rx=lambda u: g * np.interp(u, [0, .25, .5, .8, 1], [.15 * hip, .16 * hip, .14, .17 * shoulder, .10]),
             rz=lambda u: g * np.interp(u, [0, .25, .45, .8, 1], [.10, .10, .10 * belly, .11, .07]),
             chain=[(-np.inf, 0), (J[3, 1], 3), (J[6, 1], 6), (J[9, 1], 9)]),
        dict(name="neck", a=J[12] - [0, 0.05, 0.01], b=J[15] + [0, 0.03, 0], rings=8, cap=0.2,
             rx=lambda u: 0.055 * g, rz=lambda u: 0.055 * g, chain=[(-np.inf, 9), (J[12, 1], 12), (J[15, 1] + 0.02, 15)]),
        dict(name="head", a=J[15] + np.array([0, -0.03, 0.0]) * head_size, b=J[15] + np.array([0, 0.20, 0.01]) * head_size * height,
             rings=28, cap=1.0, rx=lambda u: 0.078 * head_size * height, rz=lambda u: 0.095 * head_size * height,
             chain=[(-np.inf, 15)]),
    ]
    for side, s in (("left", 1), ("right", -1)):
        sh, el, wr, ha = (JOINT[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist", "hand"))
        hp, kn, an, ft = (JOINT[f"{side}_{n}"] for n in ("hip", "knee", "ankle", "foot"))
        col = JOINT[f"{side}_collar"]
        arm_dir = (J[el] - J[sh]) / np.linalg.norm(J[el] - J[sh])
        leg_dir = (J[kn] - J[hp]) / np.linalg.norm(J[kn] - J[hp])
        shin_dir = (J[an] - J[kn]) / np.linalg.norm(J[an] - J[kn])
        heel = np.array([J[an, 0], sole, J[an, 2] - 0.05 * height])
        toe = np.array([J[ft, 0], sole, J[ft, 2] + 0.09 * height])
        parts += [
            dict(name=f"{side}_upper_arm", a=J[sh] - 0.05 * arm_dir, b=J[el] + 0.03 * arm_dir, rings=20, cap=0.3,
                 rx=lambda u: g * np.interp(u, [0, 1], [.052, .040]), rz=lambda u: g * np.interp(u, [0, 1], [.052, .040]),
                 chain=[(-np.inf, col), (J[sh], sh), (J[el], el)]),
            dict(name=f"{side}_forearm", a=J[el] - 0.03 * arm_dir, b=J[ha] + 0.10 * arm_dir * height, rings=22, cap=0.3,
                 rx=lambda u: g * np.interp(u, [0, .6, .75, 1], [.040, .028, .022, .014]),
                 rz=lambda u: g * np.interp(u, [0, .6, .75, 1], [.040, .030, .045, .035]),
                 chain=[(-np.inf, sh), (J[el], el), (J[wr], wr), (J[ha], ha)]),
            dict(name=f"{side}_thigh", a=J[hp] - 0.06 * leg_dir, b=J[kn] + 0.03 * leg_dir, rings=24, cap=0.3,
                 rx=lambda u: g * np.interp(u, [0, 1], [.085, .055]), rz=lambda u: g * np.interp(u, [0, 1], [.085, .058]),
                 chain=[(-np.inf, 0), (J[hp], hp), (J[kn], kn)]),
            dict(name=f"{side}_shin", a=J[kn] - 0.03 * shin_dir, b=J[an] + 0.05 * shin_dir, rings=22, cap=0.3,
                 rx=lambda u: g * np.interp(u, [0, .8, 1], [.056, .040, .045]), rz=lambda u: g * np.interp(u, [0, .8, 1], [.058, .042, .05]),
                 chain=[(-np.inf, hp), (J[kn], kn), (J[an], an)]),
            dict(name=f"{side}_foot", a=heel + [0, 0.035 * height, 0], b=toe + [0, 0.03 * height, 0], rings=12, cap=0.35,
                 rx=lambda u: g * np.interp(u, [0, 1], [.038, .045]), rz=lambda u: height * np.interp(u, [0, .3, 1], [.04, .045, .025]),
                 chain=[(-np.inf, an), (J[ft], ft)], side=s),
        ]
    return parts


def _part_geometry(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (rings * segments + 2) and axial coordinates of one capsule part."""
    a, b = np.asarray(p["a"], float), np.asarray(p["b"], float)
    d = (b - a) / np.linalg.norm(b - a)
    ref = np.array([0.0, 0, 1]) if abs(d[2]) < 0.7 else np.array([0.0, 1, 0])
    w = ref - ref.dot(d) * d
    w /= np.linalg.norm(w)
    v = np.cross(d, w)
    n = p["rings"]
    theta = np.pi * (np.arange(n) + 1) / (n + 1)
    u = (1 - np.cos(theta)) / 2
    radial = np.sin(theta) ** p["cap"]  # cap < 1 flattens the ends: a capsule, not an ellipsoid
    phi = 2 * np.pi * np.arange(RING_SEGMENTS) / RING_SEGMENTS
    rx = np.array([p["rx"](x) for x in u]) * radial
    rz = np.array([p["rz"](x) for x in u]) * radial
    centers = a + u[:, None] * (b - a)
    ring = (centers[:, None, :] + rx[:, None, None] * np.cos(phi)[None, :, None] * v
            + rz[:, None, None] * np.sin(phi)[None, :, None] * w).reshape(-1, 3)
    verts = np.concatenate([a[None], ring, b[None]])
    return verts, np.concatenate([[0.0], np.repeat(u, RING_SEGMENTS), [1.0]])


def _part_faces(rings: int, offset: int) -> np.ndarray:
    s, faces = RING_SEGMENTS, []
    idx = lambda r, m: offset + 1 + r * s + (m % s)  # noqa: E731
    for m in range(s):
        faces.append([offset, idx(0, m + 1), idx(0, m)])
        faces.append([offset + 1 + rings * s, idx(rings - 1, m), idx(rings - 1, m + 1)])
        for r in range(rings - 1):
            faces.append([idx(r, m), idx(r, m + 1), idx(r + 1, m + 1)])
            faces.append([idx(r, m), idx(r + 1, m + 1), idx(r + 1, m)])
    return np.array(faces)


def _sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(x, -50, 50)))


def _skinning(verts: np.ndarray, p: dict, J: np.ndarray) -> np.ndarray:
    """Smooth weights along the part's chain: each joint owns the stretch after it, with
    logistic blends (2.5 cm wide) across every boundary."""
    a, b = np.asarray(p["a"], float), np.asarray(p["b"], float)
    d = (b - a) / np.linalg.norm(b - a)
    s = (verts - a) @ d
    bounds = [(-np.inf if np.isscalar(x) and np.isinf(x) else
               ((np.array([0, x, 0]) if np.isscalar(x) else np.asarray(x)) - a) @ d) for x, _ in p["chain"]]
    if p["name"] in ("torso", "neck"):  # vertical parts: boundaries are heights
        s = verts[:, 1]
        bounds = [x for x, _ in p["chain"]]
    w = np.zeros((len(verts), NUM_JOINTS))
    tau = 0.0125
    for i, (_, joint) in enumerate(p["chain"]):
        lo = 1.0 if np.isinf(bounds[i]) else _sigmoid((s - bounds[i]) / tau)
        hi = 0.0 if i + 1 == len(bounds) else _sigmoid((s - bounds[i + 1]) / tau)
        w[:, joint] += lo - hi
    if p["name"] == "torso":  # shoulders follow the collars, hips the thighs
        for side, sgn in (("left", 1), ("right", -1)):
            x = sgn * verts[:, 0]
            to_collar = _sigmoid((x - 0.11) / 0.015) * _sigmoid((verts[:, 1] - J[9, 1] - 0.06) / 0.015)
            to_hip = _sigmoid((x - 0.05) / 0.015) * _sigmoid((J[0, 1] - 0.05 - verts[:, 1]) / 0.015)
            w = w * (1 - to_collar - to_hip)[:, None]
            w[:, JOINT[f"{side}_collar"]] += to_collar
            w[:, JOINT[f"{side}_hip"]] += to_hip
    return w


def _body(b: np.ndarray):
    """(joints, vertices, faces, weights, part index per vertex) before landmark placement."""
    J = _skeleton(b)
    verts, faces, weights, part_of = [], [], [], []
    offset = 0
    for i, p in enumerate(_parts(J, b)):
        v, _ = _part_geometry(p)
        f = _part_faces(p["rings"], offset)
        # orient faces outwards: a closed part's signed volume must be positive
        tri = np.concatenate([v, np.zeros((0, 3))])[f - offset]
        if np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() < 0:
            f = f[:, ::-1]
        verts.append(v)
        faces.append(f)
        weights.append(_skinning(v, p, J))
        part_of.append(np.full(len(v), i))
        offset += len(v)
    return J, np.concatenate(verts), np.concatenate(faces), np.concatenate(weights), np.concatenate(part_of)


def _landmark_targets(J: np.ndarray, verts: np.ndarray) -> dict[str, np.ndarray]:
    head_top = verts[:, 1].max()
    head_c = np.array([0, head_top - 0.11, J[15, 2] + 0.01])
    t = {"nose": head_c + [0, -0.01, 0.1], "reye": head_c + [-0.03, 0.03, 0.09], "leye": head_c + [0.03, 0.03, 0.09],
         "rear": head_c + [-0.08, 0.0, 0.0], "lear": head_c + [0.08, 0.0, 0.0]}
    for side, s, S in (("left", 1, "L"), ("right", -1, "R")):
        ha, ft, an = J[JOINT[f"{side}_hand"]], J[JOINT[f"{side}_foot"]], J[JOINT[f"{side}_ankle"]]
        tip = ha + [s * 0.09, 0, 0]
        pre = "l" if side == "left" else "r"
        t[f"{pre}thumb"] = ha + [s * 0.03, 0, 0.06]
        for finger, dz in zip(("index", "middle", "ring", "pinky"), (0.03, 0.01, -0.01, -0.03)):
            t[f"{pre}{finger}"] = tip + [0, 0, dz]
        sole = verts[:, 1].min()
        t[f"{S}BigToe"] = np.array([ft[0] - s * 0.02, sole + 0.02, ft[2] + 0.09])
        t[f"{S}SmallToe"] = np.array([ft[0] + s * 0.03, sole + 0.02, ft[2] + 0.07])
        t[f"{S}Heel"] = np.array([an[0], sole + 0.02, an[2] - 0.06])
    return t


def _landmark_permutation(J: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """A vertex order that puts the nearest vertex to each landmark at smplx's id for it."""
    perm = np.arange(len(verts))  # new index -> old index
    taken: set[int] = set()
    targets = _landmark_targets(J, verts)
    for new_id, name in LANDMARKS.items():
        dist = np.linalg.norm(verts[perm] - targets[name], axis=1)
        dist[list(taken)] = np.inf
        src = int(np.argmin(dist))
        perm[[new_id, src]] = perm[[src, new_id]]
        taken.add(new_id)
    return perm


def _joint_regressor(J: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Non-negative weights over nearby vertices, summing to 1, that reproduce each joint."""
    reg = np.zeros((NUM_JOINTS, len(verts)))
    for j in range(NUM_JOINTS):
        near = np.argsort(np.linalg.norm(verts - J[j], axis=1))
        for k in (48, 96, 192, 400):
            idx = near[:k]
            A = np.vstack([verts[idx].T, 10.0 * np.ones(k)])
            w, _ = nnls(A, np.append(J[j], 10.0))
            if np.abs(verts[idx].T @ w - J[j]).max() < 1e-6 and abs(w.sum() - 1) < 1e-6:
                break
        else:
            raise RuntimeError(f"stand-in body: joint {j} is outside the mesh")
        reg[j, idx] = w / w.sum()
    return reg


def build() -> dict[str, np.ndarray]:
    """The stand-in model as the dict a SMPL pickle holds (what `smplx.SMPL` reads)."""
    zero = np.zeros(NUM_BETAS)
    J, verts, faces, weights, _ = _body(zero)
    assert len(verts) == NUM_VERTICES, len(verts)
    perm = _landmark_permutation(J, verts)
    inverse = np.argsort(perm)
    verts, weights = verts[perm], weights[perm]
    faces = inverse[faces]
    # Shape directions: central differences of the parametric body, one unit = 1 std.
    shapedirs = np.zeros((NUM_VERTICES, 3, NUM_BETAS))
    for i in range(NUM_BETAS):
        e = np.eye(NUM_BETAS)[i]
        shapedirs[:, :, i] = (_body(e)[1][perm] - _body(-e)[1][perm]) / 2
    kintree = np.array([[2**32 - 1 if p < 0 else p for p in PARENTS], list(range(NUM_JOINTS))], dtype=np.int64)
    return {
        "v_template": verts,
        "shapedirs": shapedirs,
        "posedirs": np.zeros((NUM_VERTICES, 3, 207), dtype=np.float32),
        "J_regressor": _joint_regressor(J, verts),
        "J": J,
        "weights": weights,
        "kintree_table": kintree,
        "f": faces.astype(np.uint32),
        "unimo_standin": VERSION,
    }
