#!/usr/bin/python3
"""Runs the README's shell commands as a new user would, at reduced sizes, in a scratch copy of
the working directory's outputs (CI runs it after `make test`):

    /usr/bin/python3 scripts/check_readme.py [README.md]

Every line of a ```sh block that starts with ./build/cbrl, cbrl, cc or make install is run
from the repository root, with `\\` continuations joined. Sizes are cut so the whole README
runs in a few minutes: sweeps get --set overrides (iterations, seeds, final window), estimators
fewer samples. Lines that need what CI does not build (mpirun) are skipped and listed. A
command that exits non-zero fails the check, with its output."""
import os, re, shlex, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
README = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "README.md")

# Reduced sizes: appended to every `cbrl run`, and replacements of large counts.
RUN_CUT = ["--set", "iterations=40", "--set", "final_window=10", "--set", "metrics_every=5",
           "--set", "seeds=2", "--set", "hpgd_steps=1000"]
CUTS = [(r"--samples \d+", "--samples 3"), (r"--states 1000\b", "--states 100")]


def commands(text):
    """The runnable lines of the ```sh blocks, continuations joined."""
    out, block, joined = [], False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            block = line.strip() in ("```sh", "```bash") and not block
            continue
        if not block:
            continue
        line = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else ""
        if line.rstrip().endswith("\\"):
            joined += line.rstrip()[:-1] + " "
            continue
        line, joined = (joined + line).strip(), ""
        if line:
            out.append(line)
    return out


def reduce(cmd):
    for pat, rep in CUTS:
        cmd = re.sub(pat, rep, cmd)
    words = shlex.split(cmd)
    if len(words) > 1 and words[0].endswith("cbrl") and words[1] == "run":
        words += RUN_CUT
    return words


def main():
    text = open(README).read()
    work = tempfile.mkdtemp(prefix="cbrl_readme_")
    prefix = os.path.join(work, "prefix")
    failed, ran, skipped = [], 0, []
    env = dict(os.environ)
    # Outputs (runs/, tb/, CSV files) land in the scratch folder, which sees the repository's
    # build, configs and examples as a new user's checkout would.
    for d in ("build", "configs", "examples", "docs", "scripts"):
        os.symlink(os.path.join(ROOT, d), os.path.join(work, d))
    for cmd in commands(text):
        first = cmd.split()[0]
        if first == "mpirun":
            skipped.append(cmd)
            continue
        if first == "make":
            if "install" not in cmd:
                skipped.append(cmd + "   (run by CI itself)")
                continue
            cmd = re.sub(r"PREFIX=\S+", "PREFIX=" + prefix, cmd)
        elif first == "cc":
            cmd = cmd.replace("/opt/cbrl", prefix).replace("my.c", os.path.join(ROOT, "examples", "custom_problem.c"))
            cmd += " -o " + os.path.join(work, "my_program")
        elif not (first.endswith("cbrl") or first.startswith("PKG_CONFIG_PATH")):
            skipped.append(cmd)
            continue
        words = reduce(cmd) if first != "cc" and first != "make" else None
        shown = " ".join(shlex.quote(w) for w in words) if words else cmd
        p = subprocess.run(words if words else cmd, shell=words is None, cwd=ROOT if first == "make" else work,
                           capture_output=True, text=True, env=env)
        ran += 1
        status = "ok" if p.returncode == 0 else f"exit {p.returncode}"
        print(f"check_readme: {status}: {shown}")
        if p.returncode:
            failed.append(shown)
            sys.stdout.write(p.stdout[-2000:] + p.stderr[-2000:])
        if first == "cc" and p.returncode == 0:
            q = subprocess.run([os.path.join(work, "my_program")], capture_output=True, text=True)
            print(f"check_readme: {'ok' if q.returncode == 0 else 'exit %d' % q.returncode}: the program just linked runs")
            if q.returncode:
                failed.append("running the program linked with the README's cc line")
                sys.stdout.write(q.stderr[-2000:])
    for s in skipped:
        print(f"check_readme: skipped: {s}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"check_readme: {ran - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


sys.exit(main())
