"""Typed configs: defaults, YAML, overrides, and one-line errors naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
from support import REPO, run_job

from unimo.platform.config import config_hash, describe, flatten, from_dict, load_config, option, to_yaml
from unimo.platform.errors import ConfigError


@dataclass
class Trainer:
    num_workers: int = option(1, help="Ray Train workers")
    lr: float = 1e-3
    precision: Literal["fp32", "bf16"] = "fp32"


@dataclass
class Job:
    data: str = option(help="input URL (required)")
    trainer: Trainer = field(default_factory=Trainer)
    stages: list[str] = option(["a", "b"])
    seed: Optional[int] = None


def test_defaults_yaml_and_overrides_compose(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("data: /x\ntrainer:\n  lr: 0.5\n")
    cfg = load_config(Job, str(path), ["trainer.num_workers=2", "stages=[c]", "seed=7"])
    assert cfg.data == "/x"
    assert cfg.trainer == Trainer(num_workers=2, lr=0.5)
    assert cfg.stages == ["c"] and cfg.seed == 7


@dataclass
class Outer:
    trainer: Trainer = field(default_factory=lambda: Trainer(num_workers=4, lr=0.1))


def test_partial_sections_override_the_fields_own_default():
    cfg = load_config(Outer, None, ["trainer.lr=0.5"])
    assert cfg.trainer == Trainer(num_workers=4, lr=0.5)  # not the class default of 1 worker
    assert {r[0]: r[2] for r in describe(Outer)}["trainer.num_workers"] == "4"


def test_int_is_accepted_for_float_and_mutable_defaults_are_not_shared():
    a = load_config(Job, None, ["data=/a", "trainer.lr=1"])
    assert a.trainer.lr == 1.0 and isinstance(a.trainer.lr, float)
    a.stages.append("z")
    assert load_config(Job, None, ["data=/b"]).stages == ["a", "b"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data=/x", "trainer.num_workerz=2"], "unknown config key 'trainer.num_workerz' (did you mean 'trainer.num_workers'?)"),
        (["data=/x", "trainer.num_workers=two"], "config key 'trainer.num_workers' must be int, got 'two'"),
        (["data=/x", "trainer.num_workers=true"], "config key 'trainer.num_workers' must be int, got True"),
        (["data=/x", "trainer.precision=fp16"], "config key 'trainer.precision' must be one of 'fp32', 'bf16', got 'fp16'"),
        (["data=/x", "stages=[1]"], "config key 'stages[0]' must be str, got 1"),
        (["data=/x", "trainer=3"], "config key 'trainer' must be a mapping of Trainer fields, got 3"),
        (["trainer.lr=0.1"], "missing required config value 'data'"),
        (["data"], "override 'data' is not of the form key=value"),
    ],
)
def test_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(Job, None, overrides)
    assert str(e.value) == message


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config file '.*bad.yaml' is not valid YAML"):
        load_config(Job, str(bad))
    with pytest.raises(ConfigError, match=r"config file '.*missing.yaml' does not exist"):
        load_config(Job, str(tmp_path / "missing.yaml"))
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(Job, str(listy))


def test_views_of_a_config():
    cfg = load_config(Job, None, ["data=/x"])
    flat = flatten(cfg)
    assert flat["trainer.num_workers"] == 1 and flat["data"] == "/x"
    assert from_dict(Job, __import__("yaml").safe_load(to_yaml(cfg))) == cfg
    assert config_hash(cfg) == config_hash(load_config(Job, None, ["data=/x"]))
    assert config_hash(cfg) != config_hash(load_config(Job, None, ["data=/y"]))
    keys = {row[0]: row for row in describe(Job)}
    assert keys["trainer.num_workers"][1:] == ("int", "1", "Ray Train workers")
    assert keys["data"][2] == "(required)"


# --- the same errors through a real job's command line -----------------------------------


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["corpus.clipz=3"], "unknown config key 'corpus.clipz' (did you mean 'corpus.clips'?)"),
        (["corpus.clips=many"], "config key 'corpus.clips' must be int, got 'many'"),
        (["--corpus.clips"], "option '--corpus.clips' needs a value"),
        (["corpus.size=65"], "size must be an even number >= 16, got 65"),
    ],
)
def test_job_config_errors_are_one_line_exit_2(args, fragment):
    out = run_job("demo.py", *args, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert fragment in lines[0] and "Traceback" not in out.stderr


def test_missing_required_value_on_the_command_line_exits_2(capsys):
    from unimo.platform import cli

    with pytest.raises(SystemExit) as e:
        cli.parse(Job, ["trainer.lr=0.1"], prog="jobs/x.py", description="")
    assert e.value.code == 2
    assert capsys.readouterr().err == "jobs/x.py: config error: missing required config value 'data'\n"
    # a bare --flag sets a bool; other keys need a value
    @dataclass
    class Flags:
        debug: bool = False
        steps: int = 1

    assert cli.parse(Flags, ["--debug", "--steps", "3"], prog="x", description="") == Flags(debug=True, steps=3)
    # an option's several words join into one value (e.g. --source bvh ./mocap)
    cfg = cli.parse(Job, ["--data", "bvh", "./mocap", "--stages=[x]", "seed=2"], prog="jobs/x.py", description="")
    assert (cfg.data, cfg.stages, cfg.seed) == ("bvh ./mocap", ["x"], 2)


def test_job_yaml_with_an_unknown_section_exits_2(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("nonsense:\n  x: 1\n")
    out = run_job("demo.py", "--config", str(cfg), timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == "jobs/demo.py: config error: unknown config key 'nonsense' (known: out, corpus, decode, fit, trainer, video_tokenizer, unimo)"


def test_job_overrides_in_every_form_reach_the_config():
    out = run_job("demo.py", "corpus.clips=5", "--corpus.seed=3", "--out", "memory://x", "--print-config", timeout=120)
    assert out.returncode == 0, out.stderr
    printed = __import__("yaml").safe_load(out.stdout)
    assert printed["out"] == "memory://x"
    assert (printed["corpus"]["clips"], printed["corpus"]["seed"], printed["corpus"]["frames"]) == (5, 3, 64)


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "jobs").glob("*.py") if not p.name.startswith("_")))
def test_every_job_has_help(script):
    out = run_job(script, "--help", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and "config keys" in out.stdout
