"""The command line every job shares: `--help`, `--config FILE`, `key=value` overrides.

    python jobs/train.py --config configs/tiny.yaml trainer.num_workers=2 --seed=3

Overrides may be written `a.b=v`, `--a.b=v` or `--a.b v`. Config errors print one line
naming the key and exit with code 2; other user errors (a bad file or URL) print one
line and exit with code 1. Bugs keep their traceback.

The console shows the job's own lines and progress bars; Ray's, MLflow's and the
libraries' output goes to a log file whose path the job prints (console.py), unless
`--verbose`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from typing import Callable, TypeVar

from unimo.platform import config as config_lib
from unimo.platform import console
from unimo.platform.errors import ConfigError, UnimoError

C = TypeVar("C")
_verbose = False  # --verbose of the last parse()


def _help_epilog(config_cls: type) -> str:
    rows = config_lib.describe(config_cls)
    width = min(max((len(r[0]) for r in rows), default=10), 34)
    lines = ["config keys (set with key=value; defaults shown):"]
    for key, tp, default, help_ in rows:
        lines.append(f"  {key:<{width}}  {tp} = {default}")
        if help_:
            lines.extend("  " + " " * width + "    " + ln for ln in textwrap.wrap(help_, 80 - width))
    return "\n".join(lines) + "\n"


def _split_overrides(tokens: list[str], config_cls: type | None = None) -> list[str]:
    """Normalise `--a.b=v`, `--a.b v` and `a.b=v` to `a.b=v`. An option may take several
    words (`--source bvh ./mocap`): they are joined with spaces. A bare `--flag` sets a
    bool key to true."""
    out, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and "=" not in tok:
            words = []
            while i + 1 + len(words) < len(tokens):
                nxt = tokens[i + 1 + len(words)]
                if nxt.startswith("--") or "=" in nxt:
                    break
                words.append(nxt)
            if not words:
                if config_cls is not None and config_lib.field_type(config_cls, tok[2:].replace("-", "_")) is bool:
                    out.append(f"{tok[2:]}=true")
                    i += 1
                    continue
                raise ConfigError(f"option '{tok}' needs a value (write {tok}=VALUE)")
            out.append(f"{tok[2:]}={' '.join(words)}")
            i += 1 + len(words)
            continue
        out.append(tok[2:] if tok.startswith("--") else tok)
        i += 1
    return out


def parse(config_cls: type[C], argv: list[str] | None = None, *, prog: str, description: str, positional: str | None = None) -> C:
    """Parse a job's command line into its typed config (exits 2 on a config error).
    `positional`: the config key a leading bare argument sets (`mocap.py VIDEO`)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=_help_epilog(config_cls),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=f"{prog} [-h] [--config YAML] [--print-config]{f' {positional.upper()}' if positional else ''} [key=value ...]",
        allow_abbrev=False,
    )
    parser.add_argument("--config", metavar="YAML", help="YAML file of config values (any storage URL)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.add_argument("--verbose", action="store_true", help="show Ray's and MLflow's output here, not in the log file")
    # Everything argparse does not know is a config override, in order.
    args, overrides = parser.parse_known_args(argv)
    global _verbose
    _verbose = args.verbose
    if positional and overrides and not overrides[0].startswith("-") and "=" not in overrides[0]:
        overrides[0] = f"{positional}={overrides[0]}"
    try:
        cfg = config_lib.load_config(config_cls, args.config, _split_overrides(overrides, config_cls))
    except ConfigError as e:
        _fail(prog, e)
    if args.print_config:
        print(config_lib.to_yaml(cfg), end="")
        sys.exit(0)
    return cfg


def _fail(prog: str, e: UnimoError) -> None:
    kind = "config error" if isinstance(e, ConfigError) else "error"
    message = " ".join(str(e).split())  # one line, whatever the message held
    print(f"{prog}: {kind}: {message}", file=console.err())
    if console.log_path():
        print(f"{prog}: {kind}: {message}", file=sys.stderr)
    sys.exit(e.exit_code)


def run(main: Callable[[C], object], config_cls: type[C], *, description: str, argv: list[str] | None = None,
        positional: str | None = None) -> None:
    """Entry point of a job script: parse its config, run `main(cfg)`, report user errors
    in one line."""
    prog = f"jobs/{os.path.basename(sys.argv[0])}" if argv is None else "job"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # MLflow's INFO lines (database migrations and such) are not the user's business.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    cfg = parse(config_cls, argv, prog=prog, description=description, positional=positional)
    if not _verbose and argv is None:  # a script's run (tests call run() in-process with argv)
        console.quiet(os.path.splitext(os.path.basename(prog))[0])
    try:
        main(cfg)
    except UnimoError as e:
        _fail(prog, e)
    except BaseException as e:
        if console.log_path() and not isinstance(e, SystemExit):
            import traceback

            traceback.print_exc()  # into the log, whole
            tail = traceback.format_exc().rstrip().splitlines()[-12:]
            print("\n".join(tail) + f"\n{prog}: failed; the whole log: {console.log_path()}", file=console.err())
            sys.exit(1)
        raise
    finally:
        if console.log_path():
            console.say(f"log (Ray, MLflow; --verbose shows it here): {console.log_path()}")
