"""2D keypoint detectors behind one small interface, and the Ray Data stage that runs them.

A detector maps frames (T, H, W, 3) uint8 to SMPL-ordered keypoints (T, 24, 2) in pixels
and confidences (T, 24) in [0, 1]; joints it cannot see have confidence 0. Windows whose
keypoints came from sidecar labels pass through untouched.

The shipped detector is MediaPipe Pose (0.10.21, `model_complexity=1`, whose model is
bundled in the wheel, so it runs offline). It pins numpy<2 and protobuf<5, so it runs in a
Ray runtime_env of its own instead of constraining the project's environment; Ray builds
that environment once per node (about 40 s) and reuses it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from unimo.platform.smpl_skeleton import JOINT, NUM_JOINTS

MEDIAPIPE_RUNTIME_ENV = {
    "pip": ["mediapipe==0.10.21", "numpy==1.26.4", "protobuf==4.25.9", "opencv-contrib-python-headless==4.11.0.86",
            "pandas==2.2.3"],  # Ray Data imports pandas in the worker; pandas 3 needs numpy 2
}

# SMPL joint <- MediaPipe Pose landmark(s) (averaged). Spine, collars and hands have none.
MEDIAPIPE_TO_SMPL = {
    "left_shoulder": [11], "right_shoulder": [12], "left_elbow": [13], "right_elbow": [14],
    "left_wrist": [15], "right_wrist": [16], "left_hip": [23], "right_hip": [24],
    "left_knee": [25], "right_knee": [26], "left_ankle": [27], "right_ankle": [28],
    "left_foot": [31], "right_foot": [32], "pelvis": [23, 24], "neck": [11, 12], "head": [7, 8],
}


class KeypointDetector(Protocol):
    name: str

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class MediaPipeDetector:
    name = "mediapipe-pose-0.10.21"

    def __init__(self):
        import mediapipe as mp

        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, min_detection_confidence=0.5)

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        T, H, W, _ = frames.shape
        kp = np.zeros((T, NUM_JOINTS, 2), np.float32)
        conf = np.zeros((T, NUM_JOINTS), np.float32)
        for t, frame in enumerate(frames):
            result = self._pose.process(np.ascontiguousarray(frame))
            if result.pose_landmarks is None:
                continue
            lm = result.pose_landmarks.landmark
            for name, ids in MEDIAPIPE_TO_SMPL.items():
                j = JOINT[name]
                kp[t, j] = np.mean([[lm[i].x * W, lm[i].y * H] for i in ids], axis=0)
                conf[t, j] = float(np.min([lm[i].visibility for i in ids]))
        return kp, conf


class DetectorStage:
    """Ray Data actor: detects keypoints for windows that have none."""

    def __init__(self):
        self.detector = MediaPipeDetector()

    def __call__(self, row: dict) -> dict:
        if str(row["keypoint_source"]) == "none":
            row["keypoints2d"], row["keypoint_conf"] = self.detector(np.asarray(row["frames"]))
            row["keypoint_source"] = self.detector.name
        return row


class _RemoteDetector:
    """MediaPipe in a Ray actor: frames go in and keypoints come out as raw bytes (the
    actor's numpy 1 cannot unpickle numpy 2's arrays)."""

    def __init__(self):
        self.detector = MediaPipeDetector()

    def detect(self, video: bytes, shape: tuple) -> tuple[bytes, bytes]:
        kp, conf = self.detector(np.frombuffer(video, np.uint8).reshape(shape))
        return kp.tobytes(), conf.tobytes()


def detect(frames: np.ndarray, chunk: int = 256, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe on frames (T, H, W, 3) in its own Ray runtime environment, `chunk` frames at a
    time through one actor (it tracks the person from chunk to chunk): SMPL-ordered keypoints
    (T, 24, 2) and confidences (T, 24)."""
    import ray

    from unimo.platform import ray_session
    from unimo.platform.console import progress as progress_bar

    ray_session.connect()
    actor = ray.remote(runtime_env=MEDIAPIPE_RUNTIME_ENV)(_RemoteDetector).remote()
    kp, conf = [], []
    for s in progress_bar(range(0, len(frames), chunk), desc="2D keypoints", unit="chunk", disable=not progress):
        part = np.ascontiguousarray(frames[s : s + chunk])
        k, c = ray.get(actor.detect.remote(part.tobytes(), part.shape))
        kp.append(np.frombuffer(k, np.float32).reshape(len(part), NUM_JOINTS, 2))
        conf.append(np.frombuffer(c, np.float32).reshape(len(part), NUM_JOINTS))
    ray.kill(actor)
    return np.concatenate(kp), np.concatenate(conf)


def add_detector_stage(ds):
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    return ds.map(
        DetectorStage,
        # half a CPU each, and at most half the machine: decoding and fitting need room too
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, cpus // 2)),
        num_cpus=0.5,
        runtime_env=MEDIAPIPE_RUNTIME_ENV,
    )
