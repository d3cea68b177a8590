"""The toy model suite: the whole emergence-prediction method end to end on tiny models.

``emergence-law lab run`` trains a family of small Llama-style transformers from scratch on a
generated arithmetic corpus (:mod:`.corpus`, :mod:`.family`, :mod:`.train`), measures
pretraining loss, few-shot and finetuned accuracy through the project's own sweep recipes,
evaluator and finetuning (:mod:`.recipe`, :mod:`.loss`) and PassUntil counts through its
sampler (:mod:`.measure`), and answers the method's questions from those
tables (:mod:`.results`, :mod:`.plots`, :mod:`.pipeline`). Every finetuning setting also runs
on never-pretrained models, the gate (:mod:`.gate`). The measured tables ship with the
package (:mod:`.shipped`) for the demo. :mod:`.facts` is a knowledge-extraction task family
whose evaluated facts only pretraining holds (probed by :mod:`.facts_probe`; not yet in
``lab run``).

Importing this package imports no torch; training and measuring need the ``measure`` extra.
"""

from emergence_law.lab.shipped import (
    lab_data_origin,
    load_lab_control,
    load_lab_observations,
    load_lab_passuntil_counts,
    load_lab_summary,
)

__all__ = ["lab_data_origin", "load_lab_control", "load_lab_observations",
           "load_lab_passuntil_counts", "load_lab_summary"]
