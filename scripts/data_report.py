"""Rule data_report: what each of a task's datasets gave and what labelling made of the
pairs, in one file (results/<task>/data/report.json)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # noqa: F821 (conda envs need not install isdaa)

import json

from isdaa.io import write_json
from isdaa.rule import logged

smk = snakemake  # noqa: F821
with logged(smk):
    sources = [json.loads(Path(path).read_text()) for path in smk.input.sources]
    report = {"sources": {s["role"]: s for s in sources}, "pairs": json.loads(Path(smk.input.labelling).read_text())}
    write_json(report, smk.output[0])
    for s in sources:
        print(f"{s['role']}: {s['rows_kept']} of {s['rows_read']} rows kept; dropped {s['dropped']}")
