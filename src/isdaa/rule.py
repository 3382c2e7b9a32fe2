"""Shared set-up of the scripts that Snakemake rules run."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from isdaa import runtime


@contextmanager
def logged(smk, seed: int | None = None):
    """Send stdout, stderr (progress bars included) and logging to the rule's log file,
    and set threads and seeds from the rule."""
    Path(smk.log[0]).parent.mkdir(parents=True, exist_ok=True)
    with open(smk.log[0], "w", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):
        logging.basicConfig(stream=log, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                            force=True)
        runtime.setup(threads=smk.threads, seed=seed)
        try:
            yield
        except BaseException:
            logging.exception("rule %s failed", smk.rule)
            print(f"rule {smk.rule} failed; see {smk.log[0]}", file=sys.__stderr__)
            raise


def study(smk) -> dict:
    """The config of the job's study, read from the workflow config: the jobs take their
    execution settings (batch sizes, cache sizes, checkpoint and logging frequency) from
    here, not from the rule's params, so that changing one reruns nothing."""
    from isdaa.config import study_config

    return study_config(smk.config, smk.wildcards.task)
