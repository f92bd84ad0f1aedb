"""The repository speaks of minigrad to its readers: no work log.

Documentation, notebooks, the README, setup.py and the comments and docstrings of
the code must not read like notes of the people who built it: no mention of work
sessions or rounds, issue numbers, internal notes files, people's roles, or the
paths of the machines it was built on. (Measurements name the machine and the
command that reproduces them instead.)
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (pattern, what it is): case-insensitive
TEAM_LOG = [
    (r"\bsessions? ?[0-9]+\b|\b(this|that|earlier|previous|next|a GPU) session\b", "work sessions"),
    (r"\bissue[- ]?#?[0-9]+\b|\(issue [0-9]", "issue numbers"),
    (r"PERF-NOTES|ARCHITECTURE\.md|\bshared/[A-Za-z]", "internal notes the reader does not have"),
    (r"\bhelper-[0-9]+\b|\bthe lead\b|\bother engineers\b", "the team"),
    (r"/work/|/home/[a-z]+/|/root/", "paths of the machine it was built on"),
    (r"\bround of work\b|\bthis round\b|\bwork log\b|\bno GPU (was |has been )?lent\b", "work history"),
]
_PATTERN = re.compile("|".join(f"(?:{p})" for p, _ in TEAM_LOG), re.I)

SUFFIXES = (".md", ".py", ".ipynb", ".cu", ".cuh", ".hpp", ".yml", ".yaml", ".cfg", ".ini", ".toml", ".js", ".css",
            ".sh", ".txt")
SKIP = ("minigrad/data/embedded/",)  # data sets shipped with the package (texts, images)


def _files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        names = out.stdout.splitlines() if out.returncode == 0 else []
    except (OSError, subprocess.SubprocessError):
        names = []
    if not names:  # not a git checkout (e.g. an unpacked source archive)
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("site", "build", "__pycache__")]
            names += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files]
    names.append(".ci/run")
    me = os.path.relpath(os.path.abspath(__file__), ROOT)
    return sorted({n.replace(os.sep, "/") for n in names
                   if (n.endswith(SUFFIXES) or n == ".ci/run") and n != me and not n.startswith(SKIP)})


def test_no_work_log_in_docs_notebooks_readme_and_code():
    found = []
    for name in _files():
        path = os.path.join(ROOT, name)
        if not os.path.isfile(path):
            continue  # listed by git but deleted in the work tree
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in _PATTERN.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            what = next(w for p, w in TEAM_LOG if re.fullmatch(p, m.group(0), re.I) or re.search(p, m.group(0), re.I))
            found.append(f"{name}:{line}: {m.group(0)!r} ({what})")
    assert not found, "work-log wording (rewrite it for a reader of the project):\n" + "\n".join(found[:50])


def test_the_check_catches_work_log_wording():
    for text in ("measured in session 3", "the aim of issue 4", "see PERF-NOTES", "in /work/main",
                 "no GPU was lent", "the lead should re-run", "helper-19 measured"):
        assert _PATTERN.search(text), text
    for text in ("a Python session", "the issue here is", "shared memory", "work/", "issue tracker"):
        assert not _PATTERN.search(text), text
