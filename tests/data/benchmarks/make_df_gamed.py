"""Write tests/data/benchmarks/df_gamed.csv: a synthetic stand-in of AlpacaEval's
`df_gamed.csv` (hub dataset tatsu-lab/alpaca_eval), which no PyPI package ships.

alpaca-eval's length-controlled win rate (`get_length_controlled_winrate`, GLM
`length_controlled_v1`) reads that file for two things: each instruction's difficulty
(looked up by AlpacaEval row index 0..804, from the first rows of the file) and the
annotations of two "gamed" versions of the baseline (verbose and concise), which
regularise the fit. This file has the same columns and shape: per gamed model 805 rows in
AlpacaEval order, `index`, `instruction_difficulty`, `std_delta_len`, `preference` in
[0, 1] and `not_gamed_baseline` False. Its numbers are drawn from a fixed seed, not taken
from AlpacaEval: a length-controlled win rate computed with it exercises the official
function end to end but is not AlpacaEval's number.

    python tests/data/benchmarks/make_df_gamed.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

QUESTIONS = 805
OUT = Path(__file__).resolve().parent / "df_gamed.csv"


def main() -> None:
    rng = np.random.default_rng(0)
    difficulty = np.round(rng.normal(0.0, 1.0, QUESTIONS), 6)
    frames = []
    for model, shift in (("gpt4_1106_preview_verbose", 1.0), ("gpt4_1106_preview_concise", -1.0)):
        delta = np.round(rng.normal(shift, 0.6, QUESTIONS), 6)
        logit = 0.8 * np.tanh(delta) - 0.3 * difficulty + rng.normal(0.0, 0.3, QUESTIONS)
        frames.append(pd.DataFrame({"model": model, "index": np.arange(QUESTIONS),
                                    "instruction_difficulty": difficulty, "std_delta_len": delta,
                                    "preference": np.round(1 / (1 + np.exp(-logit)), 6),
                                    "not_gamed_baseline": False}))
    pd.concat(frames, ignore_index=True).to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
