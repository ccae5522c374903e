"""Latency and accuracy of the offline knowledge consultant on a labelled question set.

    .venv/bin/python bench/ai_knowledge_bench.py [--rounds 20] [--sweep]

Accuracy counts a row as right when an on-topic question gets its expected entry confidently, or
an off-topic one ("-") gets the honest "not sure". Not a test: numbers to compare before/after a
change to retrieval, the synonyms or the knowledge base.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai.knowledge import KnowledgeConsultant

ROOT = Path(__file__).resolve().parent.parent
OFF_TOPIC = "-"


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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))  # runnable as a plain script, without installing the project
    from ai.knowledge import KnowledgeConsultant, load_entries

    rows = load_rows(args.data)
    topics = {entry.topic for entry in load_entries(args.knowledge)}
    unknown = sorted({r.expected for r in rows} - topics - {OFF_TOPIC})
    if unknown:
        print(f"labels not in the knowledge base: {unknown}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    consultant = KnowledgeConsultant(args.knowledge, args.threshold)
    print(f"knowledge: {len(topics)} entries from {args.knowledge}, indexed in "
          f"{(time.perf_counter() - started) * 1000:.1f} ms")

    latencies: list[float] = []
    for _ in range(args.rounds):
        for row in rows:
            start = time.perf_counter()
            await consultant.answer(row.question, [])
            latencies.append((time.perf_counter() - start) * 1000)
    print(f"latency over {len(latencies)} answers: p50 {percentile(latencies, 0.5):.3f} ms, "
          f"p99 {percentile(latencies, 0.99):.3f} ms, max {max(latencies):.3f} ms")

    thresholds = sorted({args.threshold, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6}) if args.sweep else [args.threshold]
    for threshold in thresholds:
        consultant.threshold = threshold
        report(consultant, rows, threshold, verbose=threshold == args.threshold)
    return 0


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
