#!/usr/bin/python3
"""The python-hl7 baseline for bench/hl7v2_parse.cpp.

Times hl7.parse() (python-hl7, Debian package python3-hl7) over the same
corpora as the C++ benchmark, so bench/run_hl7v2_parse can print a ratio.
Run it with Debian's own interpreter, /usr/bin/python3: the python3 that may
come first on PATH does not have the hl7 package.

What is measured: hl7.parse(bytes, encoding=...) for every message of a
corpus, i.e. decoding the bytes to str in the message's character set (MSH-18)
and python-hl7's eager split into segments, fields, repetitions, components and
subcomponents. python-hl7 does not unescape (\\T\\, \\.br\\, ...).

Output, one line per corpus, key=value separated by spaces (parsed by
bench/run_hl7v2_parse):

  python3-hl7 corpus=mixed messages=8 bytes=51223 runs=5 mb_per_s=5.12 msg_per_s=800.1

MB is 10^6 bytes. The figures are the median of `runs` timed runs, each
repeating the corpus until it has taken at least --min-time seconds of CPU
time. CPU time (time.process_time), not wall time, as Google Benchmark
reports its rates: on a shared machine, time spent waiting for the core
would otherwise count against python-hl7 only.
"""

import argparse
import os
import statistics
import sys
import time

try:
    import hl7
except ImportError:  # pragma: no cover - environment problem, say what to do
    sys.exit("hl7v2_parse_python.py: python-hl7 is missing; run it with /usr/bin/python3 "
             "(Debian package python3-hl7)")

# The corpora, as in bench/hl7v2_parse.cpp: keep the two lists the same.
# adt_a01_lf.hl7 is left out: it is adt_a01.hl7 with LF terminators, which
# python-hl7 does not split.
TEXT_FILES = [
    "adt_a01.hl7",
    "adt_a08.hl7",
    "adt_a01_v23.hl7",
    "adt_a01_latin1.hl7",
    "oru_r01.hl7",
    "siu_s12.hl7",
    "mdm_t02.hl7",
]
PDF_FILES = ["oru_r01_pdf.hl7"]
CORPORA = {
    "mixed": TEXT_FILES + PDF_FILES,  # a feed's mix, one ~20 KB base64 PDF included
    "text": TEXT_FILES,               # the same without the PDF: delimiter-dense messages
    "oru_pdf": PDF_FILES,             # one large message, mostly one base64 field
}

# MSH-18 (HL7 table 0211) to the Python codec name; empty is UTF-8 as in Hearth.
CHARSETS = {"": "utf-8", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "ASCII": "ascii",
            "8859/1": "latin-1"}


def charset_of(data: bytes) -> str:
    """The codec named by MSH-18 (read before timing starts)."""
    msh = data.split(b"\r", 1)[0].decode("ascii", "replace")
    fields = msh.split(msh[3]) if len(msh) > 3 else []
    msh18 = fields[17].split("~")[0] if len(fields) > 17 else ""  # fields[0] is "MSH", so MSH-n is fields[n-1]
    return CHARSETS[msh18]


def load(data_dir: str, names):
    corpus = []
    for name in names:
        with open(os.path.join(data_dir, name), "rb") as f:
            data = f.read()
        corpus.append((data, charset_of(data)))
    return corpus


def time_corpus(corpus, min_time: float) -> float:
    """Seconds per pass over the corpus, from one timed run of >= min_time."""
    parse = hl7.parse
    passes = 0
    clock = time.process_time
    start = clock()
    elapsed = 0.0
    while elapsed < min_time:
        for _ in range(10):
            for data, codec in corpus:
                parse(data, encoding=codec)
        passes += 10
        elapsed = clock() - start
    return elapsed / passes


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(here, "..", "tests", "data", "hl7v2"),
                    help="folder with the sample messages (default: tests/data/hl7v2)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per corpus (median reported)")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per timed run")
    ap.add_argument("--corpus", action="append", choices=sorted(CORPORA),
                    help="corpus to time (repeatable; default: all)")
    args = ap.parse_args()

    for name in args.corpus or list(CORPORA):
        corpus = load(args.data, CORPORA[name])
        size = sum(len(d) for d, _ in corpus)
        # Sanity check outside timing: every message parses to the segments it has.
        for data, codec in corpus:
            msg = hl7.parse(data, encoding=codec)
            if len(msg) != data.strip(b"\r").count(b"\r") + 1:
                sys.exit(f"python-hl7 split a corpus message wrongly ({name})")
        time_corpus(corpus, min(0.2, args.min_time))  # warm-up
        per_pass = statistics.median(time_corpus(corpus, args.min_time) for _ in range(args.runs))
        print(f"python3-hl7 corpus={name} messages={len(corpus)} bytes={size} runs={args.runs} "
              f"mb_per_s={size / per_pass / 1e6:.3f} msg_per_s={len(corpus) / per_pass:.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
