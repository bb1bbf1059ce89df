"""The `sim` command line: a thin skin over the Python API.

Subcommands live one per module in `sim.cli` and are imported only when invoked, so
``sim --help`` starts without importing numba, scipy, matplotlib or dask. Bad input anywhere
(a `ParameterError` from the library, or a click usage error) becomes one line on stderr and
exit code 2, with no traceback.

Interruption: SIGINT (Ctrl-C) and SIGTERM both raise `KeyboardInterrupt` in the command, so
every ``finally`` and context manager runs and the atomic writers of `sim.io` remove their
temporaries; the command prints one line and exits with code 130. A second SIGINT or SIGTERM
exits at once (code 130, no cleanup), even while a numba kernel runs: a watchdog thread
reads the signal numbers from `signal.set_wakeup_fd` and needs no help from the main thread.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import warnings

import click

from sim.errors import clear_interrupt, interrupt_in, note_interrupt
from sim.io import DiskFull, Notice, is_disk_full
from theory.errors import ParameterError

__all__ = ["main", "cli", "COMMANDS"]

#: name -> (module in sim.cli, click object in it, one-line help for ``sim --help``)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("run", "run", "Simulate learners over scale and hold them against the theorem."),
    "check": ("check", "check", "Validate the simulator against every prediction of the theory."),
    "graph": ("graph", "graph", "Draw a random skill-text graph and print its degree statistics."),
    "bench": ("bench", "bench", "Measure the graph engine against numpy and networkx baselines."),
    "theory": ("theory", "theory", "The Arora-Goyal bounds, tensorization and scaling laws."),
    "sweep": ("sweep", "sweep", "Sweep run parameters on one machine or a Dask cluster."),
    "mirage": ("mirage", "mirage", "Emergence under smooth and discontinuous metrics."),
    "skillmix": ("skillmix", "skillmix", "The Skill-Mix evaluation on simulated learners."),
    "corpus": ("corpus", "corpus", "Write a learnable corpus generated from the skill graph."),
    "train": ("train", "train", "Train a ladder of small networks on a corpus and measure them."),
    "measure": ("measure", "measure", "Measure a model from its predictions on a corpus."),
    "figures": ("figures", "figures", "Regenerate every figure in experiments/."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is run."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"sim.cli.{module}"), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skill-emergence-sim", prog_name="sim")
def cli():
    """sim: a synthetic-corpus and theory simulator for the emergence of skills.

    Start with `sim run --skills 1000 --k 4`; every subcommand takes --help and --json.
    """


def _fail(message: str) -> None:
    click.echo(f"sim: error: {message}", err=True)
    sys.exit(2)


def _disk_full(e: BaseException) -> None:
    """A full disk met while writing: one line naming the path, exit code 1 (the atomic
    writers of `sim.io` have removed what they started)."""
    if isinstance(e, DiskFull):
        message = str(e)
    else:
        where = getattr(e, "filename2", None) or getattr(e, "filename", None)
        message = ("no space left on the disk" + (f" while writing {str(where)!r}" if where
                                                  else "") + " (free some space and run it "
                   "again)")
    click.echo(f"sim: error: {message}", err=True)
    sys.exit(1)


#: exit code of an interrupted command (128 + SIGINT, as shells report a Ctrl-C)
INTERRUPTED = 130
_INTERRUPT_MESSAGE = "sim: interrupted (cleaning up; interrupt again to quit at once)"


#: seconds after which a signal that arrived in an import or a gc callback is delivered again
_REDELIVER_S = 0.02


def _unsafe_to_interrupt(frame) -> bool:
    """Whether the main thread is inside an import or a gc callback (`_Interrupts._handler`
    does not raise there)."""
    import gc

    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    depth = 0
    while frame is not None and depth < 500:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib") or code in callbacks:
            return True
        frame = frame.f_back
        depth += 1
    return False


class _Interrupts:
    """SIGINT/SIGTERM handling for one invocation of `main` (see the module docstring).

    The Python handler raises `KeyboardInterrupt` on the first signal and exits on the
    second; the watchdog thread counts the same signals through the wakeup fd, announces the
    first at once (one line) and exits on the second even while the main thread is busy in
    native code.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.announced = False
        self.received = 0  # seen by the Python handler
        self.watched = 0  # seen by the watchdog
        self.saved: dict[int, object] = {}
        self.saved_fd = -1
        self.saved_unraisable = sys.unraisablehook
        self.redelivering = False
        self.skip_watch = 0
        self.pipe: tuple[int, int] | None = None
        self.thread: threading.Thread | None = None

    def announce(self) -> None:
        """Print the one line, once."""
        with self.lock:
            if self.announced:
                return
            self.announced = True
        try:
            sys.stderr.write(_INTERRUPT_MESSAGE + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed
            pass

    def _handler(self, signum, frame):
        if self.redelivering:
            self.redelivering = False  # our own re-delivery of a deferred signal
        else:
            self.received += 1
            note_interrupt()  # seen again at the next check, should a library swallow it
            if self.received >= 2 or self.watched >= 2:
                os._exit(INTERRUPTED)
        if _unsafe_to_interrupt(frame):
            # raised inside an import (a half-imported jaxlib can crash the process or make
            # the next import fail) or a gc callback (where it is swallowed): deliver it again
            # shortly, once the main thread has left that code
            timer = threading.Timer(_REDELIVER_S, self._redeliver, (signum,))
            timer.daemon = True
            timer.start()
            return
        raise KeyboardInterrupt

    def _redeliver(self, signum: int) -> None:
        import _thread

        with self.lock:
            self.redelivering = True
            self.skip_watch += 1  # the watchdog sees the re-delivery too: not a new signal
        _thread.interrupt_main(signum)

    def _watch(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in (signal.SIGINT, signal.SIGTERM):
                    with self.lock:
                        if self.skip_watch:
                            self.skip_watch -= 1
                            continue
                    self.watched += 1
                    if self.watched >= 2 or self.received >= 2:
                        os._exit(INTERRUPTED)
                    self.announce()

    def _unraisable(self, info) -> None:
        """`sys.unraisablehook`: a KeyboardInterrupt raised where Python cannot propagate it
        (a gc callback such as JAX's ``_xla_gc_callback``, a finalizer) is not printed; the
        signal was noted (`sim.errors.note_interrupt`) and stops the command at its next
        check instead. Anything else goes to the previous hook."""
        if isinstance(info.exc_value, KeyboardInterrupt):
            return
        self.saved_unraisable(info)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        self.saved_unraisable = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.saved[sig] = signal.signal(sig, self._handler)
        r, w = os.pipe()
        os.set_blocking(w, False)
        self.pipe = (r, w)
        self.saved_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        self.thread = threading.Thread(target=self._watch, args=(r,), daemon=True,
                                       name="sim-interrupts")
        self.thread.start()

    def uninstall(self) -> None:
        if self.pipe is None:
            return
        if sys.unraisablehook == self._unraisable:
            sys.unraisablehook = self.saved_unraisable
        signal.set_wakeup_fd(self.saved_fd)
        if not (self.received or self.watched):
            # after a signal the process is on its way out: keep exiting at once on another
            for sig, handler in self.saved.items():
                signal.signal(sig, handler)
        r, w = self.pipe
        self.pipe = None
        os.close(w)  # the watchdog's read returns b"" and it ends
        if self.thread is not None:
            self.thread.join(timeout=1.0)
        os.close(r)


def _interrupted(interrupts: _Interrupts, argv) -> None:
    """Leave after an interrupt: one line, code 130."""
    interrupts.announce()
    if argv is None:
        # `sim` as a program: the cleanup has run (the interrupt unwound every `finally`);
        # leave now, so that another signal during the interpreter's shutdown (when Python
        # restores the default handlers) cannot end the process by a signal instead of with
        # code 130
        _flush_and_exit(INTERRUPTED)
    sys.exit(INTERRUPTED)


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _invoke(argv: list[str] | None):
    """Run the command line; return what `click.Context.exit` asked for (or the command's
    return value). Unlike `click.Command.main`, a KeyboardInterrupt is not turned into an
    `Abort` with a blank line on stderr."""
    args = sys.argv[1:] if argv is None else list(argv)
    if os.environ.get("_SIM_COMPLETE"):  # shell completion: click's own machinery
        return cli.main(args=args, prog_name="sim", standalone_mode=False)
    try:
        with cli.make_context("sim", args) as ctx:
            return cli.invoke(ctx)
    except click.exceptions.Exit as e:
        return e.exit_code


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script `sim`."""
    interrupts = _Interrupts()
    interrupts.install()
    # warnings (numpy's overflow in a bound evaluated at an absurd input, say) are held back
    # and shown only when the command did not fail on bad input: a refusal is one line
    caught = warnings.catch_warnings(record=True)
    held = caught.__enter__()
    show = False
    clear_interrupt()
    try:
        try:
            rv = _invoke(argv)
            if interrupts.received or interrupts.watched:
                raise KeyboardInterrupt  # a Ctrl-C that a library swallowed still wins
            show = True
        except ParameterError as e:
            _fail(str(e))
        except click.UsageError as e:
            ctx = getattr(e, "ctx", None)
            if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
                # `sim` or `sim theory` alone: the help, as --help prints it
                click.echo(ctx.get_help())
                sys.exit(0)
            # one line, naming the option when click knows it
            _fail(e.format_message().replace("\n", " "))
        except click.ClickException as e:
            _fail(e.format_message().replace("\n", " "))
        except OSError as e:
            if is_disk_full(e):
                _disk_full(e)
            if e.filename is None:
                raise  # not about a file the user named: a bug, with its traceback
            # an output (or input) path the system refused: --out under /proc, a name too
            # long; the atomic writers have removed what they started
            where = e.filename if e.filename2 is None else e.filename2
            _fail(f"cannot use {str(where)!r}: {e.strerror or e}")
        except (click.exceptions.Abort, EOFError):
            click.echo("sim: aborted", err=True)
            sys.exit(INTERRUPTED)
        except KeyboardInterrupt:
            _interrupted(interrupts, argv)
        except SystemError as e:
            # a Ctrl-C whose handler ran as a numba kernel returned (`sim.errors.interrupt_in`)
            if interrupt_in(e) is None:
                raise
            _interrupted(interrupts, argv)
        except Exception as e:
            if not is_disk_full(e):
                raise
            _disk_full(e)  # a library's own error type for ENOSPC (polars)
        # standalone_mode=False returns the exit code of ctx.exit(n) calls
        sys.exit(rv if isinstance(rv, int) else 0)
    finally:
        caught.__exit__(None, None, None)
        for w in held:
            if issubclass(w.category, Notice):
                click.echo(f"sim: note: {w.message}", err=True)
            elif show:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        clear_interrupt()
        interrupts.uninstall()


if __name__ == "__main__":  # pragma: no cover
    main()
