"""Rule import_pairs: a preference set's own pairs as the study's preference pairs
(`preference_data.mode` released or human)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import pandas as pd

from isdaa.io import require_columns, write_json, write_parquet
from isdaa.preferences import import_pairs
from isdaa.rule import logged, study

smk = snakemake  # noqa: F821
with logged(smk):
    source = pd.read_parquet(smk.input.source_pairs)
    require_columns(source, ["pair_id", "prompt_ids", "chosen_ids", "rejected_ids"], smk.input.source_pairs)
    pairs, counts = import_pairs(source, smk.params.mode)
    write_parquet(pairs, smk.output.preferences)
    write_json({"mode": smk.params.mode, "behavior": study(smk)["preference_data"]["behavior"], **counts},
               smk.output.labelling)
    print(f"{len(pairs)} pairs ({smk.params.mode}): {counts}")
