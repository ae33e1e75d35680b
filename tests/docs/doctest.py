#!/usr/bin/env python3
"""doctest.py - runs the shell sessions of a Markdown file and checks that
each command prints what the file shows after it (README.md, docs/tutorial.md).

    doctest.py --src SRC --build BUILD --scratch DIR [--update] FILE.md

What is run
  A code block (fenced, or indented by four spaces) whose first line starts
  with "$ " is a session: every "$ " line is a command (a line ending in "\\"
  continues it), and the lines up to the next "$ " are its expected output,
  stdout and stderr together, as a terminal shows them.  Other code blocks
  are not run unless a directive says so.  The commands run one after the
  other in one scratch directory, each with `bash -c` under a pseudo-terminal
  (80 columns): a progress line redrawn with "\\r" is compared as it stays on
  the screen.  `$?` is the status of the previous command, and exported
  variables and `cd` carry over to the next command.
  The scratch directory starts empty but for links to the source tree's top
  level (examples/, stdlib/, .ci/ ...) and build/ holding links to BUILD's
  bin/, lib/ and share/, so the commands of README (run at the top of the
  repository) and of the tutorial work as written.  BUILD/bin is first on PATH,
  and OPENBLAS_NUM_THREADS=2 (the threads of a 2-core machine, where the
  outputs were made: the last digits of a loss depend on it).

Output that legitimately varies
  - A line "..." alone matches any number of lines (also none): the rest of
    a long output, or a command whose output is not shown at all.
  - A directive <!-- doctest: varies REGEX --> (a Python regular expression)
    marks text that varies from run to run (timings, throughput): from there
    to the end of the file, every match, in the expected and the actual
    output alike, compares equal to any other match.
  - Paths: BUILD is shown as /path/to/exa/build, SRC as /path/to/exa, and
    the scratch directory as the current one (its prefix is removed).

Directives (HTML comments, invisible on the rendered page; each applies to
the next code block unless said otherwise)
  <!-- doctest: file NAME -->     write the block into NAME (in the session's
                                 current directory)
  <!-- doctest: append NAME -->   append a blank line and the block to NAME
  <!-- doctest: setup
       shell commands -->         run these first, silently (they must succeed)
  <!-- doctest: instead COMMAND -->  run COMMAND in place of the session's first
                                 command (e.g. README's install-and-build line,
                                 whose build part ctest has already done)
  <!-- doctest: skip REASON -->  do not run the next block (the reason is printed)
  <!-- doctest: varies REGEX -->  see above (to the end of the file)

Regenerating
  --update rewrites FILE.md in place: every command whose output does not
  match gets the output it printed (paths replaced as above).  A "..." line
  in a replaced output is lost: put it back where the output is too long.
  Review the change with `git diff` before committing it.

Exit status 0 when every command matched, 1 otherwise; each mismatch is
printed with FILE:LINE, the command and a diff (expected -> actual).
"""
import argparse
import difflib
import fcntl
import os
import pty
import re
import select
import shlex
import signal
import struct
import sys
import termios
import time

COLUMNS = 80
TIMEOUT = 600   # seconds per command

DIRECTIVE = re.compile(r'<!--\s*doctest:\s*(\w+)\s*(.*?)\s*-->', re.S)
FENCE = re.compile(r'^(\s*)(```+|~~~+)')


class Block:
    def __init__(self, start, end, indent, lines, directives):
        self.start = start          # index of the first content line in the file
        self.end = end              # index after the last content line
        self.indent = indent
        self.lines = lines          # content, indentation removed
        self.directives = directives


def parse(text):
    """The code blocks of a Markdown text, each with the directives that
    stand between it and the previous block."""
    lines = text.split('\n')
    blocks, pending, i = [], [], 0
    prev_blank = True
    while i < len(lines):
        line = lines[i]
        if '<!--' in line and 'doctest:' in line:
            j = i
            chunk = line
            while '-->' not in chunk and j + 1 < len(lines):
                j += 1
                chunk += '\n' + lines[j]
            for m in DIRECTIVE.finditer(chunk):
                pending.append((m.group(1), m.group(2), i + 1))
            i = j + 1
            prev_blank = False
            continue
        m = FENCE.match(line)
        if m:
            indent, fence = len(m.group(1)), m.group(2)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence[0] * len(fence)):
                j += 1
            content = [l[indent:] if l[:indent].strip() == '' else l.lstrip() for l in lines[i + 1:j]]
            blocks.append(Block(i + 1, j, indent, content, pending))
            pending, i, prev_blank = [], j + 1, False
            continue
        if prev_blank and line.startswith('    ') and line.strip():
            j = i
            while j < len(lines) and (lines[j].startswith('    ') or not lines[j].strip()):
                j += 1
            while j > i and not lines[j - 1].strip():
                j -= 1
            blocks.append(Block(i, j, 4, [l[4:] for l in lines[i:j]], pending))
            pending, i, prev_blank = [], j, False
            continue
        prev_blank = not line.strip()
        i += 1
    return lines, blocks


def session(block):
    """[(command, [command lines], [expected lines])] of a session block."""
    items, k, L = [], 0, block.lines
    while k < len(L):
        if not L[k].startswith('$ '):
            return None
        cmd_lines = [L[k]]
        while cmd_lines[-1].endswith('\\') and k + 1 < len(L):
            k += 1
            cmd_lines.append(L[k])
        k += 1
        out = []
        while k < len(L) and not L[k].startswith('$ '):
            out.append(L[k])
            k += 1
        cmd = '\n'.join([cmd_lines[0][2:]] + cmd_lines[1:])
        items.append((cmd, cmd_lines, out))
    return items


def screen(raw):
    """What a terminal shows for raw pty output: CR-LF is a newline, a lone
    CR returns to the start of the line, later text overwrites earlier."""
    text = raw.decode('utf-8', 'replace').replace('\r\n', '\n')
    text = re.sub(r'\x1b\[[0-9;]*[A-Za-z]', '', text)
    rows = []
    for line in text.split('\n'):
        cells, col = [], 0
        for ch in line:
            if ch == '\r':
                col = 0
                continue
            if col < len(cells):
                cells[col] = ch
            else:
                cells.append(ch)
            col += 1
        rows.append(''.join(cells).rstrip())
    if rows and rows[-1] == '':
        rows.pop()
    return rows


def run_pty(argv, cwd, env):
    """Runs argv on a pseudo-terminal: (status, raw output)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 24, COLUMNS, 0, 0))
    out, deadline = bytearray(), time.time() + TIMEOUT
    while True:
        left = deadline - time.time()
        if left <= 0:
            os.killpg(pid, signal.SIGKILL)   # pty.fork made the child a session leader
            out += b'\n[doctest: killed after %d s]\n' % TIMEOUT
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:     # EIO: the child and all holders of the pty closed it
                break
            if not data:
                break
            out += data
    # wait before closing the master: closing it hangs up the terminal, and a
    # program that closed its stdout and stderr before exiting (cp does) would
    # die of that SIGHUP
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), bytes(out)


class Runner:
    def __init__(self, args):
        self.src = os.path.realpath(args.src)
        self.build = os.path.realpath(args.build)
        self.dir = os.path.abspath(args.scratch)
        self.varies = []
        self.status = 0
        self.state = self.dir + '.state'
        self.env = dict(os.environ)
        self.env['PATH'] = os.path.join(self.build, 'bin') + ':' + self.env.get('PATH', '')
        self.env['TERM'] = 'xterm'
        self.env['COLUMNS'] = str(COLUMNS)
        # the last digits of a loss depend on the number of threads: the
        # outputs shown were made on 2 cores, i.e. 2 threads
        self.env['OPENBLAS_NUM_THREADS'] = '2'
        self.env.pop('EXA_PATH', None)

    def prepare(self):
        if os.path.exists(self.dir):
            os.system('rm -rf ' + shlex.quote(self.dir))
        os.makedirs(os.path.join(self.dir, 'build'))
        for name in os.listdir(self.src):
            if name.startswith('build') or name == '.git':
                continue
            os.symlink(os.path.join(self.src, name), os.path.join(self.dir, name))
        for name in ('bin', 'lib', 'share'):
            if os.path.exists(os.path.join(self.build, name)):
                os.symlink(os.path.join(self.build, name), os.path.join(self.dir, 'build', name))
        with open(self.state, 'w') as f:
            f.write('cd %s\n' % shlex.quote(self.dir))

    def shell(self, cmd):
        """Runs one command as the user would, in the carried-over state."""
        script = ('. %s\n(exit %d)\n%s\n__doctest_rc=$?\n'
                  '{ export -p; echo "cd $(printf %%q "$PWD")"; } >%s\n'
                  'exit $__doctest_rc\n') % (shlex.quote(self.state), self.status, cmd,
                                            shlex.quote(self.state))
        self.status, raw = run_pty(['bash', '--norc', '--noprofile', '-c', script], self.dir, self.env)
        rows = screen(raw)
        return [self.paths(r) for r in rows]

    def cwd(self):
        """The session's current directory (the state's last cd)."""
        with open(self.state) as f:
            cds = [l for l in f.read().split('\n') if l.startswith('cd ')]
        return shlex.split(cds[-1][3:])[0] if cds else self.dir

    def paths(self, line):
        line = line.replace(self.dir + '/', '')
        line = line.replace(self.build, '/path/to/exa/build')
        return line.replace(self.src, '/path/to/exa')

    def norm(self, line):
        for rx in self.varies:
            line = rx.sub('<varies>', line)
        return line.rstrip()


def matches(expected, actual, norm):
    """expected (with "..." lines) against actual, line by line after norm."""
    e = [norm(l) for l in expected]
    a = [norm(l) for l in actual]
    memo = {}

    def go(i, j):
        if (i, j) in memo:
            return memo[(i, j)]
        if i == len(e):
            r = j == len(a)
        elif e[i].strip() == '...':
            r = any(go(i + 1, k) for k in range(j, len(a) + 1))
        else:
            r = j < len(a) and e[i] == a[j] and go(i + 1, j + 1)
        memo[(i, j)] = r
        return r
    return go(0, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--src', required=True)
    ap.add_argument('--build', required=True)
    ap.add_argument('--scratch', required=True)
    ap.add_argument('--update', action='store_true')
    ap.add_argument('file')
    args = ap.parse_args()
    text = open(args.file).read()
    lines, blocks = parse(text)
    run = Runner(args)
    run.prepare()
    # FILE:LINE as from the top of the source tree (README.md, docs/tutorial.md)
    rel = os.path.relpath(os.path.realpath(args.file), run.src)
    if rel.startswith('..'):
        rel = args.file
    passed = failed = 0
    edits = []      # (start, end, new lines) of the file, for --update
    for b in blocks:
        skip = target = None
        mode, instead = None, None
        for kind, arg, line in b.directives:
            if kind == 'varies':
                run.varies.append(re.compile(arg))
            elif kind in ('file', 'append'):
                mode, target = kind, arg
            elif kind == 'setup':
                st, raw = run_pty(['bash', '-c', '. %s\nset -e\n%s' % (shlex.quote(run.state), arg)],
                                  run.dir, run.env)
                if st != 0:
                    print('%s:%d: setup failed (status %d):\n%s' % (rel, line, st, '\n'.join(screen(raw))))
                    return 1
            elif kind == 'instead':
                instead = arg
            elif kind == 'skip':
                skip = arg
            else:
                print('%s:%d: unknown directive %r' % (rel, line, kind))
                return 1
        if skip is not None:
            print('%s:%d: not run: %s' % (rel, b.start + 1, skip))
            continue
        if target:
            with open(os.path.join(run.cwd(), target), 'w' if mode == 'file' else 'a') as f:
                f.write(('' if mode == 'file' else '\n') + '\n'.join(b.lines) + '\n')
            continue
        items = session(b)
        if not items:
            continue
        new, changed = [], False
        line_no = b.start
        for n, (cmd, cmd_lines, expected) in enumerate(items):
            real = instead if (n == 0 and instead) else cmd
            t0 = time.time()
            actual = run.shell(real)
            took = time.time() - t0
            where = '%s:%d' % (rel, line_no + 1)
            new.extend(cmd_lines)
            if matches(expected, actual, run.norm):
                passed += 1
                print('ok   %s  $ %s  (%.1f s)' % (where, cmd.split('\n')[0][:60], took))
                new.extend(expected)
            else:
                failed += 1
                changed = True
                print('FAIL %s  $ %s  (%.1f s, status %d)' % (where, cmd.split('\n')[0], took, run.status))
                if real != cmd:
                    print('     (ran instead: %s)' % real)
                diff = difflib.unified_diff([run.norm(l) for l in expected], [run.norm(l) for l in actual],
                                            'expected', 'actual', lineterm='', n=2)
                for d in diff:
                    print('     ' + d)
                new.extend(actual)
            line_no += len(cmd_lines) + len(expected)
        if changed:
            pad = ' ' * b.indent
            edits.append((b.start, b.end, [(pad + l) if l else l for l in new]))
    print('%d passed, %d failed' % (passed, failed))
    if failed and not args.update:
        print('to take the outputs above as the new expected ones (then review git diff):\n'
              '  python3 %s --src %s --build %s --scratch %s --update %s'
              % (sys.argv[0], args.src, args.build, args.scratch, args.file))
    if args.update and edits:
        for start, end, repl in reversed(edits):
            lines[start:end] = repl
        with open(args.file, 'w') as f:
            f.write('\n'.join(lines))
        print('%s: %d blocks rewritten; review with git diff' % (rel, len(edits)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
