"""The sweep's comparison table: a row per variant, seeds averaged, their spread shown."""

from __future__ import annotations

from unimo.models.motion_tokenizer.evaluation import ABLATION_COLUMNS, ablation_table


def run(variant: str, mpjpe: float, usage: float = 0.5) -> dict:
    metrics = {key: 1.0 for _, key, _ in ABLATION_COLUMNS}
    return {**metrics, "variant": variant, "procedural/mpjpe_mm": mpjpe, "procedural/codebook_usage": usage}


def cells(table: str) -> dict[str, list[str]]:
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows}


def test_one_seed_gives_plain_values_in_first_seen_order():
    table = ablation_table([run("base", 42.44), run("experts=1", 38.2, usage=0.834)])
    assert list(cells(table)) == ["base", "experts=1"]
    assert cells(table)["experts=1"][0] == "38.2" and cells(table)["experts=1"][5] == "83%"
    assert table.splitlines()[0].count("|") == len(ABLATION_COLUMNS) + 2


def test_several_seeds_give_the_mean_and_half_the_range_and_flag_a_missing_seed():
    table = ablation_table([run("base", 40.0), run("s=1", 30.0), run("base", 44.0)], seeds=2)
    assert cells(table)["base"][0] == "42.0 ± 2.0"
    assert "s=1 (1 of 2 seeds)" in cells(table)
    assert cells(table)["s=1 (1 of 2 seeds)"][0] == "30.0 ± 0.0"
