"""A knowledge-extraction task family for the lab: finetuning can only *elicit* what
pretraining stored.

Why (LAB-NOTES, docs/lab.md): in the arithmetic lab, finetuning on the task's pool teaches
3-digit x 1-digit multiplication from scratch (a never-pretrained model finetuned long enough
reaches 0.88), so "finetuning shifts emergence" measures compute, not pretraining. Here the
evaluated answers are facts that exist **only** in the pretraining corpus:

- ``n_entities`` entities (one token each, ``e0000`` ...) with 4 attributes (city, job, color,
  food), each one of 10 single-token values, drawn uniformly and fixed by the seed;
- pretraining rows are statements ``e0042 lives in oslo .`` in 3 of 4 paraphrase templates
  per attribute (the 4th is held out: the x-axis, :func:`heldout_statements`); an entity
  appears with Zipf-like frequency (rank ``r`` has weight ``r ** -zipf``), so frequent facts
  are stored early and rare ones late and each checkpoint holds a graded share of them;
- a trace of question-answer lines ``q : where does e0042 live ? a : oslo .`` (share
  ``qa_share`` of statements) about the *trace* entities only, so the question words are
  trained (Allen-Zhu & Li, "Physics of Language Models 3.1", mixed training);
- the entities are split once (``split``): by default (``interleaved``) every 4th Zipf rank is
  an **evaluation** entity (so they span every frequency); with ``head-pool`` the evaluation
  entities are the rarest quarter (the Zipf tail, stored last) and the pool is drawn from the
  frequent rest (stored first), so a checkpoint can hold the pool's facts while the evaluated
  ones are still weak traces. The rest is split into the **trace** entities and the finetuning
  **pool**. Evaluation questions ask about evaluation entities only; finetuning data and
  few-shot examples are questions about pool entities only. No evaluated fact is in any
  finetuning example (``tests/lab/test_facts.py`` checks it), so a never-pretrained control
  stays at chance by construction (the gate, :mod:`emergence_law.lab.gate`).

Downstream: 3-shot multiple choice, the true value among 3 other values of the same attribute
drawn uniformly (the true one uniformly placed): chance is exactly 1/4.

``balanced_eval``: the evaluation entities' facts are drawn so that, per attribute, every value
is the true answer equally often (groups of 10 entities, each attribute a permutation of the
values within a group); then *any* fact-blind ranking of the values (an answer prior learned
from the finetuning questions, say) scores exactly 1/4 in expectation over the uniform
distractors, instead of whatever the drawn facts' imbalance gives it (0.27 measured).

``extraction="coded"``: a harder extraction to teach. The 4 attributes share one set of 10
values, every entity's 4 values are distinct, and a question names its attribute only through
one of ``question_templates`` code words per attribute (``q : t017 e0042 ? a :``), never
through a word of the statements; the distractors are the entity's *other three* values. So a
model that retrieves "a value of e0042" without knowing which attribute the code word asks
for is at 1/4, and each code word's meaning must be learned: from the pretraining QA trace
(which uses every code word) or from finetuning examples (each pool question has one fixed
code word, so D = 32 sees at most 32 of them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: attribute -> (the 4 statement templates, the question, the 10 values); the 4th template of
#: each attribute is never in pretraining (held out for the x-axis)
ATTRIBUTES: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "city": (("lives in", "resides in", "is based in", "has a home in"),
             "q : where does {entity} live ? a :",
             ("paris", "rome", "oslo", "lima", "cairo",
              "delhi", "tokyo", "quito", "dakar", "hanoi")),
    "job": (("works as", "is employed as", "earns a living as", "has a job as"),
            "q : what is the job of {entity} ? a :",
            ("baker", "nurse", "pilot", "judge", "miner",
             "tailor", "farmer", "lawyer", "singer", "barber")),
    "color": (("likes the color", "prefers the color", "loves the color", "favours the color"),
              "q : which color does {entity} like ? a :",
              ("red", "blue", "green", "pink", "gray",
               "black", "white", "brown", "orange", "purple")),
    "food": (("eats", "enjoys", "often eats", "has a taste for"),
             "q : what does {entity} eat ? a :",
             ("rice", "bread", "soup", "fish", "cheese",
              "beans", "apples", "pasta", "eggs", "corn")),
}
ATTR_NAMES = tuple(ATTRIBUTES)
N_VALUES = 10
N_TRAIN_TEMPLATES = 3  # templates 0..2 in pretraining, template 3 held out
HELDOUT_TEMPLATE = 3
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
BOS_ID = 2
END = "."
TASK_MC = "facts-mc"
TASK_GEN = "facts"
N_CHOICES = 4
#: extraction="coded": the 10 values every attribute shares
SHARED_VALUES = ("amber", "basil", "cedar", "delta", "ember", "flint", "grove", "haven",
                 "ivory", "jasper")
#: how a question names its attribute: its own words (direct) or a code word (coded)
EXTRACTIONS = ("direct", "coded")


def entity_name(i: int) -> str:
    return f"e{i:04d}"


@dataclass(frozen=True)
class FactsConfig:
    """The world and corpus settings (the seed fixes facts, split and Zipf ranks)."""

    n_entities: int = 2000
    zipf: float = 1.0
    qa_share: float = 0.0025
    trace_share: float = 0.2  # of the non-evaluation entities: QA lines in pretraining
    stmts_per_row: int = 16
    seed: int = 0
    split: str = "interleaved"  # or "head-pool": evaluation = the Zipf tail (see SPLITS)
    extraction: str = "direct"  # or "coded" (see EXTRACTIONS and the module docstring)
    question_templates: int = 32  # code words per attribute (extraction="coded" only)
    balanced_eval: bool = False  # evaluated answers balanced per attribute


#: how evaluation entities are chosen: every 4th Zipf rank, or the rarest quarter
SPLITS = ("interleaved", "head-pool")


class FactWorld:
    """Facts, the entity split and the vocabulary of one :class:`FactsConfig`."""

    def __init__(self, cfg: FactsConfig) -> None:
        self.cfg = cfg
        rng = np.random.default_rng(cfg.seed)  # the draws of the probes in docs/lab.md
        n = cfg.n_entities
        self.facts = rng.integers(0, N_VALUES, size=(n, len(ATTR_NAMES)))
        if cfg.extraction not in EXTRACTIONS:
            from emergence_law.errors import SettingError

            raise SettingError("extraction", f"unknown extraction {cfg.extraction!r} (use "
                               f"{' or '.join(EXTRACTIONS)})")
        self.coded = cfg.extraction == "coded"
        frng = np.random.default_rng([cfg.seed, 41])  # extra draws never shift the defaults'
        if self.coded:  # 4 distinct values per entity: the distractors are the entity's own
            self.facts = np.stack([frng.choice(N_VALUES, len(ATTR_NAMES), replace=False)
                                   for _ in range(n)])
        w = 1.0 / np.arange(1, n + 1) ** cfg.zipf  # entity i has Zipf rank i + 1
        self.probs = w / w.sum()
        ids = np.arange(n)
        if cfg.split == "interleaved":
            is_eval = ids % 4 == 1
        elif cfg.split == "head-pool":
            is_eval = ids >= n - n // 4  # the rarest quarter (same count as interleaved)
        else:
            from emergence_law.errors import SettingError

            raise SettingError("split", f"unknown split {cfg.split!r} (use "
                               f"{' or '.join(SPLITS)})")
        self.eval_entities = ids[is_eval]
        if cfg.balanced_eval:
            self._balance(self.eval_entities, frng)
        rest = ids[~is_eval]
        perm = rng.permutation(len(rest))
        n_trace = int(cfg.trace_share * len(rest))
        self.trace_entities = np.sort(rest[perm[:n_trace]])
        self.pool_entities = np.setdiff1d(rest, self.trace_entities)
        words: set[str] = {"q", ":", "?", "a", END}
        for templates, question, values in ATTRIBUTES.values():
            for t in templates:
                words.update(t.split())
            if not self.coded:
                words.update(w for w in question.split() if w != "{entity}")
                words.update(values)
        if self.coded:
            words.update(SHARED_VALUES)
            words.update(self.code_word(k, t) for k in range(len(ATTR_NAMES))
                         for t in range(cfg.question_templates))
        self.words = (*SPECIALS, *sorted(words), *(entity_name(i) for i in range(n)))
        self.vocab = {w: i for i, w in enumerate(self.words)}
        self._ent0 = self.vocab[entity_name(0)]
        self._cum = np.cumsum(self.probs)
        tp = self.probs[self.trace_entities]
        self._trace_cum = np.cumsum(tp / tp.sum())

    def _balance(self, ents: np.ndarray, rng: np.random.Generator) -> None:
        """Redraw the facts of ``ents`` so each attribute's values are balanced: in every group
        of 10 entities attribute k takes value ``perm[(i + shift_k) % 10]`` (random permutation
        and 4 distinct shifts per group), so each column is a permutation of the 10 values and
        each entity's 4 values are distinct."""
        for g in range(0, len(ents) - len(ents) % N_VALUES, N_VALUES):
            perm = rng.permutation(N_VALUES)
            shifts = rng.choice(N_VALUES, len(ATTR_NAMES), replace=False)
            for i, e in enumerate(ents[g:g + N_VALUES]):
                self.facts[e] = perm[(i + shifts) % N_VALUES]

    # --------------------------------------------------------------- text
    def code_word(self, k: int, t: int) -> str:
        """The code word of question template ``t`` of attribute ``k`` (coded extraction)."""
        return f"t{k * self.cfg.question_templates + t:03d}"

    @property
    def n_question_templates(self) -> int:
        return self.cfg.question_templates if self.coded else 1

    def values(self, k: int) -> tuple[str, ...]:
        """The 10 values of attribute ``k`` (shared by all attributes when coded)."""
        return SHARED_VALUES if self.coded else ATTRIBUTES[ATTR_NAMES[k]][2]

    def value(self, e: int, k: int) -> str:
        return self.values(k)[self.facts[e, k]]

    def statement(self, e: int, k: int, t: int) -> str:
        """``e0042 lives in oslo .`` (template ``t`` of attribute ``k``)."""
        return f"{entity_name(e)} {ATTRIBUTES[ATTR_NAMES[k]][0][t]} {self.value(e, k)} {END}"

    def question(self, e: int, k: int, t: int = 0) -> str:
        """The question about attribute ``k`` of ``e`` (``t``: its code word when coded)."""
        if self.coded:
            return f"q : {self.code_word(k, t)} {entity_name(e)} ? a :"
        return ATTRIBUTES[ATTR_NAMES[k]][1].format(entity=entity_name(e))

    def qa(self, e: int, k: int, t: int = 0) -> str:
        return f"{self.question(e, k, t)} {self.value(e, k)} {END}"

    def distractors(self, e: int, k: int, rng: np.random.Generator) -> np.ndarray:
        """The 3 wrong choices: 3 other values of the attribute drawn uniformly, or (coded) the
        entity's other 3 values, in random order."""
        true = int(self.facts[e, k])
        if self.coded:
            return rng.permutation(np.delete(self.facts[e], k))
        return rng.choice([v for v in range(N_VALUES) if v != true], N_CHOICES - 1,
                          replace=False)

    def encode(self, text: str) -> list[int]:
        return [self.vocab[w] for w in text.split()]

    # --------------------------------------------------------------- corpus
    def sample_texts(self, n_rows: int, rng: np.random.Generator) -> list[str]:
        """``n_rows`` pretraining rows as text (statements, and the QA trace)."""
        m = self.cfg.stmts_per_row
        out = []
        for _ in range(n_rows):
            is_qa = rng.random(m) < self.cfg.qa_share
            ents = np.minimum(np.searchsorted(self._cum, rng.random(m)), len(self.probs) - 1)
            tr = self.trace_entities[np.minimum(np.searchsorted(self._trace_cum, rng.random(m)),
                                                len(self.trace_entities) - 1)]
            ks = rng.integers(0, len(ATTR_NAMES), m)
            ts = rng.integers(0, N_TRAIN_TEMPLATES, m)
            qt = (rng.integers(0, self.cfg.question_templates, m) if self.coded
                  else np.zeros(m, dtype=int))
            out.append(" ".join(self.qa(int(tr[i]), int(ks[i]), int(qt[i])) if is_qa[i]
                                else self.statement(int(ents[i]), int(ks[i]), int(ts[i]))
                                for i in range(m)))
        return out

    def sample_rows(self, n_rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (BOS + row, right-padded with 0) and the loss mask (real tokens)."""
        rows = [[BOS_ID, *self.encode(t)] for t in self.sample_texts(n_rows, rng)]
        width = max(map(len, rows))
        ids = np.zeros((n_rows, width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
        return ids, ids != 0

    def heldout_statements(self, n: int, seed: int) -> list[str]:
        """The x-axis' statements: held-out-template statements of entities drawn with their
        pretraining frequency (so the loss weighs facts as pretraining does)."""
        rng = np.random.default_rng([seed, 9])
        ents = np.minimum(np.searchsorted(self._cum, rng.random(n)), len(self.probs) - 1)
        ks = rng.integers(0, len(ATTR_NAMES), n)
        return [self.statement(int(e), int(k), HELDOUT_TEMPLATE) for e, k in zip(ents, ks,
                                                                                  strict=True)]

    # --------------------------------------------------------------- task items
    def mc_item(self, e: int, k: int, rng: np.random.Generator, t: int | None = None) -> dict:
        """Attribute ``k`` of ``e`` as a multiple-choice row: the true value among the
        distractors in random order, asked with code word ``t`` (drawn when None)."""
        values = self.values(k)
        true = int(self.facts[e, k])
        others = self.distractors(e, k, rng)
        order = rng.permutation(N_CHOICES)
        mults = np.concatenate([[true], others])[order]
        if t is None:
            t = int(rng.integers(self.cfg.question_templates)) if self.coded else 0
        return {"entity": entity_name(e), "attribute": ATTR_NAMES[k],
                "prompt": self.question(e, k, t), "choices": [values[int(m)] for m in mults],
                "answer": int(np.flatnonzero(order == 0)[0]), "answer_text": values[true]}

    def eval_items(self, seed: int = 0) -> list[dict]:
        """Every fact of every evaluation entity, in a fixed shuffled order."""
        rng = np.random.default_rng([seed, 2])
        pairs = [(int(e), k) for e in self.eval_entities for k in range(len(ATTR_NAMES))]
        order = rng.permutation(len(pairs))
        return [self.mc_item(*pairs[i], rng) for i in order]

    def pool_items(self, seed: int = 0) -> list[dict]:
        """Every fact of every pool entity: what finetuning draws its D examples from."""
        rng = np.random.default_rng([seed, 6])
        pairs = [(int(e), k) for e in self.pool_entities for k in range(len(ATTR_NAMES))]
        order = rng.permutation(len(pairs))
        return [self.mc_item(*pairs[i], rng) for i in order]

    def fewshot_items(self, seed: int = 0, n: int = 16) -> list[dict]:
        rng = np.random.default_rng([seed, 3])
        ents = rng.choice(self.pool_entities, n, replace=False)
        return [self.mc_item(int(e), int(rng.integers(len(ATTR_NAMES))), rng) for e in ents]


def multiple_choice_task(world: FactWorld, n_eval: int, shots: int, seed: int = 0):
    """The few-shot question task on the first ``n_eval`` evaluation facts (a
    :class:`emergence_law.measure.tasks.Task`, so the project's evaluator and finetuning run
    it). Few-shot examples and the ``train`` split are pool entities' questions only."""
    from emergence_law.measure.tasks import Task

    return Task(
        name=TASK_MC, kind="multiple_choice", template="{prompt}", target_delimiter=" ",
        fewshot_delimiter=f" {END} ", shots=shots, fewshot_split="fewshot", train_split="train",
        splits={"eval": world.eval_items(seed)[:n_eval], "fewshot": world.fewshot_items(seed),
                "train": world.pool_items(seed)},
        chance=1.0 / N_CHOICES, source="emergence_law.lab.facts",
    )


def build_word_tokenizer(world: FactWorld, model_max_length: int = 512):
    """A word-level fast tokenizer over the world's vocabulary (ids as :attr:`FactWorld.vocab`),
    prepending BOS like the character tokenizer of :mod:`emergence_law.tinylm`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab=dict(world.vocab), unk_token=SPECIALS[1]))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    core.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[2]} $A", pair=f"{SPECIALS[2]} $A $B",
        special_tokens=[(SPECIALS[2], BOS_ID)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=SPECIALS[0],
                                   unk_token=SPECIALS[1], bos_token=SPECIALS[2],
                                   eos_token=SPECIALS[3], model_max_length=model_max_length,
                                   clean_up_tokenization_spaces=False)
