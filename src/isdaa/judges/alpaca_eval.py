"""AlpacaEval 2: the weighted (log-prob) annotator against GPT-4-Turbo's reference outputs,
and the length-controlled win rate of the `alpaca-eval` package.

The prompt, the order of the two outputs and the parsing are the package's own
(`weighted_alpaca_eval_gpt4_turbo`): its template through its `make_prompts` and
`prompt_to_chatml`, its seeded switch of the outputs (`RandomSwitchTwoColumnsProcessor`,
seed 0, on the instruction), its `logprob_parser` over the tokens `m` / `M`. The judge is
asked for one token with its top-5 log-probs; the preference is 1 + P(the model's output
is better), in [1, 2]. The length-controlled win rate is `get_length_controlled_winrate`
on our annotations, with the hub's `df_gamed.csv` from the benchmark's data folder (the
package would download it into its own cache; it never writes into site-packages here:
`save_weights_dir=None`).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from isdaa.judges.client import JudgeRequest, Reply

Z90 = 1.6448536269514722  # a 90% normal interval, as the other benchmarks' 5-95% intervals


def build(questions: pd.DataFrame, answers: dict, judge: dict, settings: dict) -> tuple[list[JudgeRequest], pd.DataFrame]:
    """One request per answered question; the table says which output is whose."""
    from alpaca_eval import utils
    from alpaca_eval.processors import RandomSwitchTwoColumnsProcessor

    rows = [{"question_id": q.question_id, "instruction": q.turns[0], "output_1": q.baseline[0],
             "output_2": answers[(q.question_id, 1)]} for q in questions.itertuples()
            if answers.get((q.question_id, 1)) is not None]
    table = pd.DataFrame(rows, columns=["question_id", "instruction", "output_1", "output_2"])
    if table.empty:
        return [], table.assign(is_switched_outputs=pd.Series(dtype=bool))
    switch = RandomSwitchTwoColumnsProcessor(two_columns_to_switch=["output_1", "output_2"],
                                             random_seed_columns=["instruction"], _switch_column="is_switched_outputs",
                                             seed=0)
    shown = switch.preprocess(table)
    prompts, _ = utils.make_prompts(shown[["instruction", "output_1", "output_2"]], template=judge["prompt_template"])
    parameters = {**judge["request"], **settings["judge"].get("parameters", {})}
    requests = [JudgeRequest(f"q{qid}", {"model": settings["judge"]["model"], "messages": utils.prompt_to_chatml(p),
                                        **parameters})
                for qid, p in zip(table["question_id"], prompts)]
    table["is_switched_outputs"] = shown["is_switched_outputs"].to_numpy()
    return requests, table


def preference(reply: Reply, parser: dict, switched: bool) -> float | None:
    """The package's preference of one reply (1: the baseline is better, 2: the model's
    output), or None when the reply carries no usable log-prob."""
    from alpaca_eval.completion_parsers import logprob_parser

    choices = (reply.response or {}).get("choices") or []
    logprobs = choices[0].get("logprobs") if choices else None
    if not logprobs or not logprobs.get("content"):
        return None
    try:
        value = logprob_parser({"logprobs": logprobs}, **parser)[0]
    except (AssertionError, KeyError, TypeError, ValueError, IndexError):
        return None
    if value is None or not math.isfinite(value):
        return None
    return float(3 - value) if switched else float(value)


def parse(replies: list[Reply], table: pd.DataFrame, judge: dict) -> pd.DataFrame:
    out = table.copy()
    values = [preference(r, judge["parser"], bool(s)) for r, s in zip(replies, table["is_switched_outputs"])]
    out["preference"] = pd.Series(values, index=out.index, dtype=float)
    out["verdict"] = pd.Series([None if v is None else f"{v:.6f}" for v in values], index=out.index, dtype=object)
    return out


@contextmanager
def gamed_annotations(path: Path):
    """`get_length_controlled_winrate` downloads `df_gamed.csv` from the hub inside the
    function; hand it the benchmark folder's copy instead (no network, no package cache)."""
    from unittest import mock

    import alpaca_eval.metrics.glm_winrate as glm

    with mock.patch.object(glm, "hf_hub_download", lambda *args, **kwargs: str(path)):
        yield


def annotations(judgments: pd.DataFrame, generator: str, baseline_model: str, annotator: str) -> pd.DataFrame:
    """The parsed judgments in alpaca-eval's annotation layout, indexed by AlpacaEval row
    (the GLM looks instruction difficulty up by that index)."""
    parsed = judgments[judgments["preference"].notna()]
    return pd.DataFrame({"instruction": parsed["instruction"].to_numpy(), "output_1": parsed["output_1"].to_numpy(),
                         "output_2": parsed["output_2"].to_numpy(), "generator_1": baseline_model,
                         "generator_2": generator, "preference": parsed["preference"].astype(float).to_numpy(),
                         "annotator": annotator},
                        index=pd.Index(parsed["question_id"].astype(int).to_numpy()))


def length_controlled(annotated: pd.DataFrame, glm_name: str, df_gamed: Path) -> dict:
    import warnings

    from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate

    with gamed_annotations(df_gamed), warnings.catch_warnings():
        # scikit-learn 1.9 announces argument changes of 1.10 that alpaca-eval 0.6.6 makes (pinned below 1.10).
        warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
        return get_length_controlled_winrate(annotated, glm_name=glm_name, save_weights_dir=None,
                                             is_add_glm_preference_inplace=False)


def score(judgments: pd.DataFrame, questions: pd.DataFrame, judge: dict, settings: dict, folder: Path,
          generator: str) -> dict:
    baseline_model = questions["baseline_model"].iloc[0]
    annotated = annotations(judgments, generator, baseline_model, judge.get("annotator", "weighted_alpaca_eval"))
    if annotated.empty:
        return {"metrics": {}, "n": 0}
    result = length_controlled(annotated, settings["length_controlled"], folder / judge["df_gamed"])
    lc, lc_se = float(result["length_controlled_winrate"]), float(result["lc_standard_error"])
    wr, se = float(result["win_rate"]), float(result["standard_error"])
    lengths = judgments.loc[judgments["preference"].notna(), "output_2"].str.len()
    return {
        "n": int(result["n_total"]),
        "metrics": {
            "lc_win_rate": {"score": lc, "interval_low": lc - Z90 * lc_se, "interval_high": lc + Z90 * lc_se,
                            "primary": True, "standard_error": lc_se},
            "win_rate": {"score": wr, "interval_low": wr - Z90 * se, "interval_high": wr + Z90 * se,
                         "primary": False, "standard_error": se},
        },
        "n_wins": float(result["n_wins"]), "n_draws": float(result["n_draws"]),
        "length_controlled": settings["length_controlled"],
        "mean_answer_characters": float(np.mean(lengths)) if len(lengths) else None,
    }
