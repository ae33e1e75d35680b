#!/usr/bin/env python3
"""use_test.py - using a trained model from outside exa (tests/use).

    use_test.py EXAC SRCDIR WORKDIR CASE

CASE is one of:
  numpy    train mlp.exa with --export; the forward pass written here in
           NumPy on the exported .npy files must give --predict's outputs
           (from the checkpoint) to 1e-6, and its classes
  csv      the same for reg.exa (f64, regression: no class file), inputs as CSV
  batchnorm  bn.exa (f64): the running statistics after one step from a start
           given by --import are the batch statistics NumPy computes, moved
           by the momentum; --predict uses them (a NumPy forward pass)
  eval     --eval on the checkpoint prints the validation loss and accuracy
           the training run logged for its last epoch
  import   --export, --import, --export again: the same bytes; --import then
           --eval gives the checkpoint's loss; wrong names, shapes and missing
           files are refused with one line
  decompose  --decompose refuses what exac refuses with exac's message (error;
           note), for a strategy that does not fit and a mistyped argument;
           --describe and --help list the strategies that fit
  plot     exa-plot (EXA_PLOT in the environment) draws two runs' logs into a
           PNG of the size it sets; a line that is not a log is refused
Exit status 0 when every check holds."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

exac, srcdir, work, case = sys.argv[1:5]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(*args, status=0):
    p = subprocess.run(list(args), cwd=work, capture_output=True, text=True)
    if p.returncode != status:
        print(p.stdout, p.stderr)
        sys.exit("%s: exit %d, expected %d" % (" ".join(args), p.returncode, status))
    return p


def build(name, prec="f32"):
    run(exac, "--precision=" + prec, os.path.join(srcdir, name + ".exa"), "-o", name)


def load(dirname, path):
    return np.load(os.path.join(work, dirname, path + ".npy")).astype(np.float64)


def mlp_forward(d, x):
    """mlp.exa's classify, per sample, over the rows of x."""
    def dense(name, h):
        return h @ load(d, "classify/%s/W" % name).T + load(d, "classify/%s/b" % name)
    h = np.tanh(dense("dense#1", x))
    h = np.maximum(dense("dense#2", h), 0)
    return dense("dense#3", h)


def reg_forward(d, x):
    def dense(name, h):
        return h @ load(d, "f/%s/W" % name).T + load(d, "f/%s/b" % name)
    return dense("dense#2", np.tanh(dense("dense#1", x)))


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
rng = np.random.RandomState(7)

if case == "numpy":
    build("mlp")
    run("./mlp", "--quiet", "--checkpoint", "ck", "--export", "ex")
    x = rng.uniform(-3, 3, (300, 2)).astype(np.float32)
    np.save(os.path.join(work, "in.npy"), x)
    p = run("./mlp", "--predict", "in.npy", "--out", "out.npy", "--checkpoint", "ck")
    check("predicted 300 samples" in p.stdout, "--predict says what it wrote: " + p.stdout.strip())
    out = np.load(os.path.join(work, "out.npy"))
    check(out.shape == (300, 5) and out.dtype == np.float32, "outputs are f4 (300, 5): %s %s" % (out.shape, out.dtype))
    ref = mlp_forward("ex", x.astype(np.float64))
    err = np.max(np.abs(out - ref) / (1 + np.abs(ref)))
    check(err < 1e-6, "NumPy forward on the exported weights = --predict: %.3g (< 1e-6)" % err)
    cls = np.load(os.path.join(work, "out.classes.npy"))
    check(cls.dtype == np.int32 and np.array_equal(cls, np.argmax(out, axis=1)), "classes are the argmax")
    check(len(set(cls.tolist())) > 1, "a trained model predicts more than one class")
elif case == "csv":
    build("reg", "f64")
    shutil.copy(os.path.join(srcdir, "..", "train", "data", "reg.csv"), work)
    run("./reg", "--quiet", "--checkpoint", "ck", "--export", "ex")
    x = rng.uniform(-1, 1, (20, 3))
    np.savetxt(os.path.join(work, "in.csv"), x, delimiter=",", fmt="%.17g")
    run("./reg", "--predict", "in.csv", "--out", "out.npy", "--checkpoint", "ck")
    out = np.load(os.path.join(work, "out.npy"))
    check(out.shape == (20, 2) and out.dtype == np.float64, "outputs are f8 (20, 2): %s %s" % (out.shape, out.dtype))
    # CSV values are read as float32 (exa/data.h), as the model saw its data
    ref = reg_forward("ex", x.astype(np.float32).astype(np.float64))
    err = np.max(np.abs(out - ref))
    check(err < 1e-6, "NumPy forward on the exported weights = --predict from CSV: %.3g (< 1e-6)" % err)
    check(not os.path.exists(os.path.join(work, "out.classes.npy")), "no class file for a regression")
elif case == "batchnorm":
    build("bn", "f64")
    shutil.copy(os.path.join(srcdir, "..", "train", "data", "reg.csv"), work)
    # a start NumPy knows: --import from init/, then one step over all 32 rows
    start = {"f/dense#1/W": rng.normal(0, 0.7, (8, 3)), "f/dense#1/b": rng.normal(0, 0.1, 8),
             "f/batch_norm#1/g": 1 + 0.1 * rng.normal(size=8), "f/batch_norm#1/b": 0.1 * rng.normal(size=8),
             "f/batch_norm#1/mean_r": 0.1 * rng.normal(size=8), "f/batch_norm#1/var_r": 1 + 0.1 * rng.uniform(size=8),
             "f/batch_norm2d#1/g": np.ones((2, 1, 1)), "f/batch_norm2d#1/b": np.zeros((2, 1, 1)),
             "f/batch_norm2d#1/mean_r": np.zeros((2, 1, 1)), "f/batch_norm2d#1/var_r": np.ones((2, 1, 1)),
             "f/dense#2/W": rng.normal(0, 0.5, (2, 8)), "f/dense#2/b": np.zeros(2)}
    for name, v in start.items():
        os.makedirs(os.path.join(work, "init", os.path.dirname(name)), exist_ok=True)
        np.save(os.path.join(work, "init", name + ".npy"), v)
    run("./bn", "--quiet", "--import", "init", "--checkpoint", "ck", "--export", "ex")
    # the batch: CSV values are read as float32 (exa/data.h)
    x = np.loadtxt(os.path.join(work, "reg.csv"), delimiter=",", skiprows=1)[:, :3]
    x = x.astype(np.float32).astype(np.float64)
    z = x @ start["f/dense#1/W"].T + start["f/dense#1/b"]
    mu, var = z.mean(axis=0), z.var(axis=0)  # the batch's, biased
    want_m = 0.7 * start["f/batch_norm#1/mean_r"] + 0.3 * mu
    want_v = 0.7 * start["f/batch_norm#1/var_r"] + 0.3 * var
    got_m, got_v = load("ex", "f/batch_norm#1/mean_r"), load("ex", "f/batch_norm#1/var_r")
    err = max(np.max(np.abs(got_m - want_m)), np.max(np.abs(got_v - want_v)))
    check(err < 1e-12, "running statistics after one step = 0.7 start + 0.3 batch's: %.3g (< 1e-12)" % err)
    h = np.maximum(start["f/batch_norm#1/g"] * (z - mu) / np.sqrt(var + 1e-5) + start["f/batch_norm#1/b"], 0)
    c = h.reshape(-1, 2, 4)  # batch_norm2d: per channel over the rows and pixels
    want2 = 0.9 * 0 + 0.1 * c.mean(axis=(0, 2))
    err = np.max(np.abs(load("ex", "f/batch_norm2d#1/mean_r").ravel() - want2))
    check(err < 1e-12, "batch_norm2d's running mean (momentum 0.1), per channel: %.3g (< 1e-12)" % err)
    g = load("ex", "f/batch_norm#1/g")
    check(np.max(np.abs(g - start["f/batch_norm#1/g"])) > 1e-6, "the gain is trained")
    # evaluation: the running statistics
    xin = rng.uniform(-1, 1, (20, 3))
    np.savetxt(os.path.join(work, "in.csv"), xin, delimiter=",", fmt="%.17g")
    run("./bn", "--predict", "in.csv", "--out", "out.npy", "--checkpoint", "ck")
    out = np.load(os.path.join(work, "out.npy"))

    def bn(d, name, v):
        return (load(d, name + "/g") * (v - load(d, name + "/mean_r")) / np.sqrt(load(d, name + "/var_r") + 1e-5)
                + load(d, name + "/b"))
    xs = xin.astype(np.float32).astype(np.float64)
    h = np.maximum(bn("ex", "f/batch_norm#1", xs @ load("ex", "f/dense#1/W").T + load("ex", "f/dense#1/b")), 0)
    h = bn("ex", "f/batch_norm2d#1", h.reshape(-1, 2, 2, 2)).reshape(-1, 8)
    ref = h @ load("ex", "f/dense#2/W").T + load("ex", "f/dense#2/b")
    err = np.max(np.abs(out - ref))
    check(err < 1e-6, "NumPy forward with the running statistics = --predict: %.3g (< 1e-6)" % err)
    np.savetxt(os.path.join(work, "in1.csv"), xin[:1], delimiter=",", fmt="%.17g")
    run("./bn", "--predict", "in1.csv", "--out", "one.npy", "--checkpoint", "ck")
    err = np.max(np.abs(np.load(os.path.join(work, "one.npy"))[0] - out[0]))
    check(err < 1e-12, "a sample's prediction does not depend on the others predicted with it: %.3g" % err)
elif case == "eval":
    build("mlp")
    run("./mlp", "--quiet", "--checkpoint", "ck", "--log", "log.jsonl")
    last = json.loads(open(os.path.join(work, "log.jsonl")).read().splitlines()[-1])
    p = run("./mlp", "--eval", "--checkpoint", "ck")
    want = "data 'test' (100 samples): loss %.6g  accuracy %.2f%%" % (last["validation_loss"], 100 * last["accuracy"])
    check(want in p.stdout, "--eval gives the logged validation result: %s | %s" % (p.stdout.strip(), want))
    p = run("./mlp", "--eval", status=1)
    check(p.stderr.count("\n") == 1 and "no trained weights" in p.stderr, "--eval without weights: " + p.stderr.strip())
    p = run("./mlp", "--predict", "x.npy", status=2)
    check(p.stderr.strip() == "exa: --predict: needs --out FILE for the outputs", "--predict without --out")
elif case == "import":
    build("mlp")
    run("./mlp", "--quiet", "--checkpoint", "ck", "--export", "ex")
    run("./mlp", "--eval", "--import", "ex", "--export", "ex2")
    names = []
    for root, _, files in os.walk(os.path.join(work, "ex")):
        names += [os.path.relpath(os.path.join(root, f), os.path.join(work, "ex")) for f in files]
    check(len(names) == 6, "one file per parameter: %s" % sorted(names))
    same = all(open(os.path.join(work, "ex", n), "rb").read() == open(os.path.join(work, "ex2", n), "rb").read()
               for n in names)
    check(same, "--import then --export gives the same bytes")
    a = run("./mlp", "--eval", "--checkpoint", "ck").stdout.split(":", 2)[2]
    b = run("./mlp", "--eval", "--import", "ex").stdout.split(":", 2)[2]
    check(a == b, "--import gives the checkpoint's evaluation: %s | %s" % (a.strip(), b.strip()))
    # f64 weights from NumPy load into an f32 program
    np.save(os.path.join(work, "ex", "classify/dense#3/b.npy"), np.arange(5.0))
    run("./mlp", "--eval", "--import", "ex", "--export", "ex3")
    check(np.array_equal(np.load(os.path.join(work, "ex3", "classify/dense#3/b.npy")), np.arange(5.0, dtype=np.float32)),
          "an f8 array from NumPy is imported")
    np.save(os.path.join(work, "ex", "classify/dense#3/b.npy"), np.zeros(4, np.float32))
    p = run("./mlp", "--eval", "--import", "ex", status=1)
    check(p.stderr == "exa: --import: ex/classify/dense#3/b.npy: has shape (4,), but parameter "
          "'classify/dense#3/b' is (5,)\n", "wrong shape: " + p.stderr.strip())
    os.remove(os.path.join(work, "ex", "classify/dense#3/b.npy"))
    p = run("./mlp", "--eval", "--import", "ex", status=1)
    check(p.stderr.count("\n") == 1 and "missing" in p.stderr, "missing file: " + p.stderr.strip())
    np.save(os.path.join(work, "ex", "classify/dense#3/b.npy"), np.zeros(5, np.float32))
    np.save(os.path.join(work, "ex", "classify/dense#3/c.npy"), np.zeros(5, np.float32))
    p = run("./mlp", "--eval", "--import", "ex", status=1)
    check(p.stderr.count("\n") == 1 and "no parameter 'classify/dense#3/c'" in p.stderr, "wrong name: " + p.stderr.strip())
    p = run("./mlp", "--import", "ex", "--resume", status=2)
    check(p.stderr.count("\n") == 1, "--import with --resume: " + p.stderr.strip())
elif case == "decompose":
    build("mlp")
    src = open(os.path.join(srcdir, "mlp.exa")).read()
    for strat in ("precond_lbfgs()", "params(by: stage)", "sapts(local_steps: 2.5)", "sapts(radius: 1, radius: 2)",
                  "local_sgd(step: 2)", "params(global: adam(lr: 0.1))", "params(combine: multiplicative)",
                  "params(x: 1)", "data(x: 1)", "foo()", "layers(lbfgs())", "sapts(1, 2, 3)",
                  "params(combine: sum, global: lbfgs())", "params(local: lbfgs(stepz: 3))",
                  "params(global: trust_region(radius: 0.1, batches: same))", "params(local: plain)"):
        # exac's message for the same line: "error: WHY" and its note
        open(os.path.join(work, "same.exa"), "w").write(src.replace("seed = 3; }", "seed = 3; decompose = %s; }" % strat))
        p = run(exac, "check", "same.exa", status=1)
        lines = p.stderr.splitlines()
        want = lines[0].split(": error: ", 1)[1]
        # the first error's own note: before the next error
        nxt = [i for i, l in enumerate(lines) if ": error: " in l][1:] + [len(lines)]
        notes = [l[len("note: "):] for l in lines[:nxt[0]] if l.startswith("note: ")]
        if notes:
            want += "; " + notes[0]
        p = run("./mlp", "--decompose", strat, status=2)
        got = p.stderr
        check(got == "exa: --decompose %s: %s\n" % (strat, want), "--decompose %s as exac: %s" % (strat, got.strip()))
    # a schedule needs sgd/adam steps: --decompose sapts refused as exac refuses it
    sched = src.replace("seed = 3; }", "seed = 3; schedule = cosine(); }")
    open(os.path.join(work, "sched.exa"), "w").write(sched)
    run(exac, "sched.exa", "-o", "sched")
    open(os.path.join(work, "same.exa"), "w").write(sched.replace("cosine(); }", "cosine(); decompose = sapts; }"))
    lines = run(exac, "check", "same.exa", status=1).stderr.splitlines()
    want = lines[0].split(": error: ", 1)[1] + "; " + lines[3][len("note: "):]
    got = run("./sched", "--decompose", "sapts", status=2).stderr
    check(got == "exa: --decompose sapts: %s\n" % want, "schedule under --decompose sapts as exac: " + got.strip())
    run("./sched", "--quiet", "--epochs", "1", "--decompose", "local_sgd(steps: 2)")
    # layers(admm) needs the chain's records, written for a program compiled with it
    chain = ("import nn;\ndata train = peaks(samples: 100, seed: 1) -> (x: [2], y: class(5));\n"
             "model m(x: [2]) -> [5] { return dense(relu(dense(x, 8)), 5); }\n"
             "loss = cross_entropy(m(x), y);\ntrain { epochs = 1; batch = 100; }\n")
    open(os.path.join(work, "chain.exa"), "w").write(chain)
    run(exac, "chain.exa", "-o", "chain")
    got = run("./chain", "--decompose", "layers(admm(rho: 1, nu: 1))", status=2).stderr
    check(got.startswith("exa: --decompose layers(admm(rho: 1, nu: 1)): layers(admm(...)) needs the chain")
          and got.count("\n") == 1, "layers(admm) without its records: " + got.strip())
    h = run("./chain", "--help").stdout  # exac's list has layers(admm(...)); this executable cannot run it
    check("strategies that fit (--decompose): data(), neurons(), grid(rows: neurons(), cols: data()), sapts, "
          "local_sgd, local_sgd_periodic\n" in h, "--help lists what runs: " + h)
    d = run("./mlp", "--describe").stdout
    check('fit list "data(), sapts, local_sgd, local_sgd_periodic"\n' in d, "--describe lists the strategies that fit")
    check("strategy sapts split data formals 2 local_steps int 3 radius float 0.01 expand strategy(name=sapts,"
          "split=data,into=ranks,local=trust_region(steps=$local_steps),combine=additive,"
          "global=trust_region(radius=$radius))\n" in d, "--describe has sapts' expansion")
    h = run("./mlp", "--help").stdout
    check("strategies that fit (--decompose): data(), sapts, local_sgd, local_sgd_periodic\n" in h, "--help lists them")
    p = run("./mlp", "--decompose", "sapts(local_steps: 2)", "--epochs", "1")
    check("strategy(name: sapts, split: data, into: ranks, local: trust_region(steps: 2), combine: additive, "
          "global: trust_region(radius: 0.01)), 1 rank" in p.stdout, "the banner names the chosen strategy")
elif case == "plot":
    import struct
    build("mlp")
    run("./mlp", "--quiet", "--epochs", "4", "--log", "adam.jsonl")
    run("./mlp", "--quiet", "--epochs", "4", "--lr", "0.001", "--log", "adam-slow.jsonl")
    plot = os.environ["EXA_PLOT"]
    run(plot, "adam.jsonl", "adam-slow.jsonl", "-o", "runs.png", "--title", "mlp.exa")
    png = open(os.path.join(work, "runs.png"), "rb").read()
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", "a PNG file")
    w, h = struct.unpack(">II", png[16:24])
    check((w, h) == (800, 576), "of 10 x 7.2 inches at 80 dpi (two rows: loss and accuracy): %d x %d" % (w, h))
    check(len(png) > 10000, "with something drawn: %d bytes" % len(png))
    open(os.path.join(work, "bad.jsonl"), "w").write('{"epoch": 1, "loss": 0.5}\nnot json\n')
    p = run(plot, "adam.jsonl", "bad.jsonl", "-o", "bad.png", status=1)
    check(p.stderr == "exa-plot: bad.jsonl:2: not a JSON line of an exa log\n", "a bad log: " + p.stderr.strip())
    check(not os.path.exists(os.path.join(work, "bad.png")), "and no picture")
else:
    sys.exit("unknown case " + case)

sys.exit(1 if failures else 0)
