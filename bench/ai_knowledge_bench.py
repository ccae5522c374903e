"""Latency and accuracy of the offline knowledge consultant on labelled question sets.

    .venv/bin/python bench/ai_knowledge_bench.py [--rounds 20] [--sweep]

Paraphrase accuracy (ai_questions.tsv) counts a row as right when an on-topic question gets its
expected entry confidently, or an off-topic one ("-") gets the honest "not sure".
On ai_answers.tsv, yes/no accuracy counts a row labelled "да"/"нет" right when the reply comes from
the labelled entry and leads with that "Да"/"Нет" ("Yes"/"No"); short-answer accuracy
counts a row right when the reply is from the labelled entry, holds the labelled fact and fits in
SHORT_CHARS characters. Both are printed for the whole-entry replies ("before", the consultant's
short_answers=False) and the sentence-level ones ("after") in the same run, with the median reply
length. Not a test: numbers to compare before/after a change to retrieval, the synonyms or the base.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai.knowledge import KnowledgeConsultant

ROOT = Path(__file__).resolve().parent.parent
OFF_TOPIC = "-"
NO_LEAD = "-"
SHORT_CHARS = 400  # about one phone screen of a chat bubble
LEADS = {"Да": "да", "Нет": "нет", "Yes": "да", "No": "нет"}


@dataclass(frozen=True)
class Row:
    question: str
    expected: str


def load_rows(path: Path) -> list[Row]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        question, sep, expected = line.partition("\t")
        if not sep:
            raise SystemExit(f"{path}:{number}: expected question<TAB>topic")
        rows.append(Row(question.strip(), expected.strip()))
    return rows


@dataclass(frozen=True)
class AnswerRow:
    question: str
    expected: str
    lead: str  # "да", "нет" or "-"
    fact: str


def load_answer_rows(path: Path) -> list[AnswerRow]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != 4 or fields[2] not in ("да", "нет", NO_LEAD):
            raise SystemExit(f"{path}:{number}: expected question<TAB>topic<TAB>да|нет|-<TAB>fact")
        rows.append(AnswerRow(*fields))
    return rows


def lead_of(text: str) -> str:
    return LEADS.get(text.split(",", 1)[0].strip(), NO_LEAD)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))  # runnable as a plain script, without installing the project
    from ai.knowledge import KnowledgeConsultant, load_entries

    rows = load_rows(args.data)
    answer_rows = load_answer_rows(args.answers)
    topics = {entry.topic for entry in load_entries(args.knowledge)}
    unknown = sorted(({r.expected for r in rows} | {r.expected for r in answer_rows}) - topics - {OFF_TOPIC})
    if unknown:
        print(f"labels not in the knowledge base: {unknown}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    consultant = KnowledgeConsultant(args.knowledge, args.threshold)
    print(f"knowledge: {len(topics)} entries from {args.knowledge}, indexed in "
          f"{(time.perf_counter() - started) * 1000:.1f} ms")

    # First with the answer memo off (every answer worked out, as for a question not asked lately), then with
    # it on (the same questions again, as the top questions and the chips are asked over and over).
    remembered = consultant.answer_cache_size
    for label, cache_size in (("worked out", 0), ("remembered", remembered)):
        consultant.answer_cache_size = cache_size
        latencies: list[float] = []
        for _ in range(args.rounds):
            for row in rows:
                start = time.perf_counter()
                await consultant.answer(row.question, [])
                latencies.append((time.perf_counter() - start) * 1000)
        print(f"latency over {len(latencies)} answers ({label}): p50 {percentile(latencies, 0.5):.3f} ms, "
              f"p99 {percentile(latencies, 0.99):.3f} ms, max {max(latencies):.3f} ms")

    thresholds = sorted({args.threshold, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6}) if args.sweep else [args.threshold]
    for threshold in thresholds:
        consultant.threshold = threshold
        report(consultant, rows, threshold, verbose=threshold == args.threshold)
    consultant.threshold = args.threshold

    print(f"answers on {len(answer_rows)} labelled rows ({sum(r.lead != NO_LEAD for r in answer_rows)} yes/no):")
    for label, short in (("before (whole entry)", False), ("after (sentences)  ", True)):
        consultant.short_answers = short
        answers_report(consultant, rows, answer_rows, label, verbose=short)
    return 0


def answers_report(
    consultant: KnowledgeConsultant, rows: list[Row], answer_rows: list[AnswerRow], label: str, verbose: bool
) -> None:
    paraphrase_right = 0
    lengths: list[float] = []
    for row in rows:
        answer = consultant.consult(row.question)
        got = answer.topics[0] if answer.confident and answer.topics else OFF_TOPIC
        paraphrase_right += got == row.expected
        if answer.confident and answer.topics:
            lengths.append(len(answer.text))
    yes_no = [r for r in answer_rows if r.lead != NO_LEAD]
    yes_no_right = short_right = 0
    misses: list[str] = []
    for row in answer_rows:
        answer = consultant.consult(row.question)
        if answer.confident and answer.topics:
            lengths.append(len(answer.text))
        lead = lead_of(answer.text)
        on_entry = answer.topics == (row.expected,)
        lead_ok = lead == row.lead
        short_ok = on_entry and row.fact in answer.text and len(answer.text) <= SHORT_CHARS
        yes_no_right += row.lead != NO_LEAD and lead_ok and on_entry
        short_right += short_ok
        if not (short_ok and lead_ok):
            misses.append(f"  {row.question!r}: lead {lead!r} (want {row.lead!r}), {len(answer.text)} chars, "
                          f"fact {'found' if row.fact in answer.text else 'missing'}, topics {answer.topics}")
    print(f"  {label}: paraphrase {paraphrase_right}/{len(rows)} = {paraphrase_right / len(rows):.1%}, "
          f"yes/no {yes_no_right}/{len(yes_no)} = {yes_no_right / len(yes_no):.1%}, "
          f"short answer {short_right}/{len(answer_rows)} = {short_right / len(answer_rows):.1%}, "
          f"median length {statistics.median(lengths):.0f} chars")
    if verbose and misses:
        print("  misses:")
        print("\n".join(misses))


def report(consultant: KnowledgeConsultant, rows: list[Row], threshold: float, verbose: bool) -> None:
    misses: list[str] = []
    on_right = on_total = off_right = off_total = 0
    for row in rows:
        answer = consultant.consult(row.question)
        got = answer.topics[0] if answer.confident and answer.topics else OFF_TOPIC
        if row.expected == OFF_TOPIC:
            off_total += 1
            off_right += got == OFF_TOPIC
        else:
            on_total += 1
            on_right += got == row.expected
        if got != row.expected:
            misses.append(f"  {row.question!r}: expected {row.expected!r}, got {got!r}")
    right = on_right + off_right
    print(f"threshold {threshold:.2f}: accuracy {right}/{len(rows)} = {right / len(rows):.1%} "
          f"(on-topic {on_right}/{on_total}, off-topic rejected {off_right}/{off_total})")
    if verbose and misses:
        print("misses:")
        print("\n".join(misses))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "ai_questions.tsv")
    parser.add_argument("--answers", type=Path, default=ROOT / "bench" / "data" / "ai_answers.tsv")
    parser.add_argument("--rounds", type=int, default=20, help="passes over the question set for latency")
    parser.add_argument("--threshold", type=float, default=None, help="confidence threshold (default: AISettings)")
    parser.add_argument("--sweep", action="store_true", help="also print accuracy at other thresholds")
    args = parser.parse_args()
    if args.threshold is None:
        sys.path.insert(0, str(ROOT))
        from ai.base import DEFAULT_THRESHOLD

        args.threshold = DEFAULT_THRESHOLD
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
