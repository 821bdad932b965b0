"""``python -m app -i STUDY -o OUT [-m MODEL] [-l LEVEL]`` (or HOLOSCAN_INPUT_PATH / HOLOSCAN_OUTPUT_PATH /
HOLOSCAN_MODEL_PATH): harmonize every eligible axial CT series of one study into OUT/<derived series UID>/.

Optional delivery after each series is written: --send-to AET@HOST:PORT (C-STORE) and/or --stow-url URL
(DICOMweb STOW-RS), with retries; a failed send keeps the files and exits 3.

Each series is first measured against the domain the model's card states (lungs in the field, kVp, pixel
spacing, slice thickness, measured MTF and noise): one outside it is not harmonized unless --outside-domain
(then its DerivationDescription and report say so). Each harmonized series must then explain its input (the
consistency guard). A series refused by either gets no DICOM, its report in OUT/rejected/<source series UID>/
and one line on stderr; the other series of the study are still written.

Exit status: 0 written (and sent); 4 one or more series refused (domain gate, guard, or pixel data that do
not decode; the others written);
2 bad input or an output folder that cannot take the series (one line on
stderr, nothing written); 3 written but not delivered (one line); 1 any other failure, e.g. the disk filling up
while writing (one line; no partial series is left); 130 Ctrl-C, 143 SIGTERM (what docker and Kubernetes send
to stop a container), 129 SIGHUP: one line, no partial series and no staging folder left.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

T0 = time.perf_counter()

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ROOT / "models"


def _parse(argv):
    env = {k: os.environ.get(v) for k, v in (("input", "HOLOSCAN_INPUT_PATH"), ("output", "HOLOSCAN_OUTPUT_PATH"),
                                             ("model", "HOLOSCAN_MODEL_PATH"))}
    p = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--input", type=Path, default=env["input"] or "input", help="study folder")
    p.add_argument("-o", "--output", type=Path, default=env["output"] or "output", help="output folder")
    p.add_argument("-m", "--model", type=Path, default=env["model"] or DEFAULT_MODELS,
                   help="model folder, model.ts, or models root with a DEFAULT file (default: %(default)s)")
    p.add_argument("-l", "--log-level", type=str.upper, default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    p.add_argument("-w", "--workdir", type=Path, default=None, help="accepted for the SDK's convention; unused")
    p.add_argument("--send-to", metavar="AET@HOST:PORT", help="C-STORE each derived series to this DICOM node")
    p.add_argument("--calling-aet", default="CTHARMONIZER", help="our AE title for --send-to (default %(default)s)")
    p.add_argument("--stow-url", metavar="URL", help="STOW-RS each derived series to this DICOMweb service")
    p.add_argument("--outputs", default="seg,sr,sc", type=lambda v: {x for x in v.split(",") if x},
                   help="DICOM results beside each derived series: any of seg, sr, sc, or none "
                        "(default: seg,sr,sc; the SR references the SEG, so sr needs seg)")
    p.add_argument("--outside-domain", action="store_true",
                   help="harmonize a series outside the model's validated domain too, marked as such")
    return p.parse_args(argv)


def _existing(folder: Path) -> Path:
    """``folder`` or its nearest existing ancestor (where the output folder will be made)."""
    probe = folder.absolute()
    while not probe.exists():
        probe = probe.parent
    return probe


def _writable(folder: Path) -> bool:
    """A file can really be made there (os.access says yes to root on a read-only mount)."""
    probe = _existing(folder)
    try:
        with tempfile.TemporaryFile(dir=probe):
            return True
    except OSError:
        return False


_STATE: dict = {"work": False, "output": None, "staging": None, "stopping": False}
STOP_SIGNALS = {signal.SIGTERM, signal.SIGHUP}


def _clean_up() -> None:
    """What this process leaves half done: its hidden partial series (a replaced series' previous version put
    back where the swap was cut) and its staging folder."""
    pid = os.getpid()
    out = _STATE["output"]
    if out is not None and Path(out).is_dir():
        for partial in Path(out).glob(f".*.partial-{pid}"):
            # moved aside first: the writer thread, still running, can then add no file to it (its path is
            # gone); the one file it may hold open is why the removal is tried again
            doomed = partial.with_name(partial.name.replace(".partial-", ".stopping-"))
            try:
                partial.rename(doomed)
            except OSError:
                doomed = partial
            for _ in range(50):
                shutil.rmtree(doomed, ignore_errors=True)
                if not doomed.exists():
                    break
                time.sleep(0.01)
        for old in Path(out).glob(f".*.old-{pid}"):
            final = old.with_name(old.name[1:].rpartition(".old-")[0])
            if final.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.rename(final)
    if _STATE["staging"] is not None:
        shutil.rmtree(_STATE["staging"], ignore_errors=True)


def _watch_stop_signals() -> None:
    """SIGTERM (docker, Kubernetes) and SIGHUP, blocked in every thread and taken here: while the work runs
    (the graph's operators run in Holoscan's threads, out of reach of a Python signal handler) clean up,
    say so in one line and exit 128 + the signal's number; once the work is done a late signal changes nothing."""
    while True:
        signum = signal.sigwait(STOP_SIGNALS)
        if _STATE["work"]:
            _STATE["stopping"] = True       # the main thread now waits for this exit, whatever it meets
            _clean_up()
            print(f"error: terminated by {signal.Signals(signum).name}; no partial series was left", file=sys.stderr,
                  flush=True)
            os._exit(128 + signum)


def _stopping() -> None:
    """While the watcher ends the run (it removes the partial series a writer may still be writing into, and
    that writer fails), the main thread says nothing and waits for its exit."""
    if _STATE["stopping"]:
        import threading

        threading.Event().wait()


def main(argv=None) -> int:
    """``_main`` with Ctrl-C (130), SIGTERM (143) and SIGHUP (129) ending the run cleanly, in one line."""
    import threading

    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)     # before any thread starts: all inherit it
    threading.Thread(target=_watch_stop_signals, name="stop-signals", daemon=True).start()
    _STATE["work"] = True
    try:
        code = _main(argv)
        _stopping()
        return code
    except KeyboardInterrupt:
        _stopping()
        _clean_up()
        print("error: interrupted; no partial series was left", file=sys.stderr)
        return 130
    finally:
        _STATE["work"] = False


def configure_logging(level: str) -> None:
    """stderr holds only what a user should read unless ``level`` is DEBUG: Holoscan's, pynetdicom's and
    pydicom's own error reports, and libraries' warnings, go to the log at DEBUG."""
    # Holoscan prints its own multi-line errors: keep it quiet unless asked to debug
    os.environ.setdefault("HOLOSCAN_LOG_LEVEL", "INFO" if level == "DEBUG" else "OFF")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if level != "DEBUG":      # pynetdicom logs every refused connection as an error: the retry says it
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        # pydicom logs each decoder's failure with its traceback: the series' one line says it (its own
        # configuration sets the logger's level on import: import it first)
        import pydicom  # noqa: F401

        logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    # libraries' warnings (numpy, pydicom on a source's non-conformance, Holoscan's stack-size advice) go to
    # the log at DEBUG: on success stderr holds only what a user should read
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if level == "DEBUG" else logging.CRITICAL)
    for handler in logging.getLogger().handlers:     # no GPU JPEG decoder on CPU machines: not news
        handler.addFilter(lambda record: "nvimgcodec" not in record.getMessage())


class RunError(Exception):
    """A study's run ended without its work done: ``message`` is the user's one line, ``code`` the exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass
class StudyRun:
    """What one study's run made: the scan it started from, the series written (folders), refused (label,
    why, report folder) and undecodable (label, why), what was sent, and each stage's wall time in seconds."""
    scan: object                      # operators.study_scan.StudyScan
    written: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str, Path]] = field(default_factory=list)
    undecodable: list[tuple[str, str]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def code(self) -> int:
        """The exit status: 4 when a series was refused or did not decode, else 0."""
        return 4 if self.rejected or self.undecodable else 0


def run_study(study: Path, output: Path, model: Path, send: dict | None = None, outside_domain: bool = False,
              outputs: set | None = None) -> StudyRun:
    """Harmonize every eligible series of ``study`` into ``output``: the app's whole job for one study, in
    this process (a long-lived process may call it again: the model stays loaded). Raises ``RunError``
    with the exit status of a run that could not do its job (bad input 2, not delivered 3, any other 1)."""
    from common.errors import InputError
    from operators.jobs_operator import STAGE_SECONDS
    from operators.pacs import SendError

    output = Path(output)
    if output.exists() and not output.is_dir():
        raise RunError(f"output {output} is not a folder", 2)
    if not _writable(output):
        raise RunError(f"output folder {output} is not writable", 2)
    started = time.perf_counter()
    try:
        from operators.harmonize import verify_model

        verify_model(model)
        from operators.study_scan import scan_study, stage

        scan = scan_study(study)       # before the graph starts: bad input fails fast, nothing written
    except InputError as e:
        raise RunError(str(e), 2) from e
    need = sum(series.derived_bytes for series in scan.eligible)
    free = shutil.disk_usage(_existing(output)).free
    if free < need:
        raise RunError(f"output folder {output} has {free / 1e6:.0f} MB free; the derived series need about "
                       f"{need / 1e6:.0f} MB", 2)
    log = logging.getLogger("app")
    for s in scan.skipped:
        log.info("skipped %s: %s", s.label, s.reason)
    for path, why in scan.rewrite.items():
        log.info("staged a conforming copy of %s: %s", path, why)
    for path, why in scan.bad_files:
        (log.info if why == "not DICOM" else log.warning)("skipped file %s: %s", path, why)

    from app.app import CTHarmonizerApp

    staging = Path(tempfile.mkdtemp(prefix="ct-harmonizer-"))
    _STATE.update(output=output, staging=staging)
    STAGE_SECONDS.clear()
    try:
        app = CTHarmonizerApp(stage(scan, staging / "study"), output, model, send or {}, outside_domain, outputs)
        STAGE_SECONDS["scan"] = time.perf_counter() - started
        log.info("timing startup_and_scan %.3f", time.perf_counter() - T0)
        os.environ["CT_HARMONIZER_RUN_START"] = str(time.perf_counter())
        app.run()
    except InputError as e:
        raise RunError(str(e), 2) from e
    except SendError as e:
        written = ", ".join(str(f) for f in app.writer.written) or "nothing"
        raise RunError(f"{e} (written and kept: {written})", 3) from e
    except Exception as e:  # noqa: BLE001 - the user gets one line; -l DEBUG shows the rest
        log.debug("failure", exc_info=True)
        first = (str(e).strip().splitlines() or [""])[0]
        raise RunError(f"{type(e).__name__}: {first}", 1) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    STAGE_SECONDS["total"] = time.perf_counter() - started
    return StudyRun(scan, list(app.writer.written), list(app.writer.rejected), list(app.volumes.undecodable),
                    list(app.sender.sent if app.sender else []), dict(STAGE_SECONDS))


def _main(argv=None) -> int:
    args = _parse(argv)
    configure_logging(args.log_level)

    def fail(message: str, code: int) -> int:
        _stopping()
        print(f"error: {message}", file=sys.stderr)
        return code

    send = {"calling_aet": args.calling_aet, "stow_url": args.stow_url, "node": None}
    if args.send_to:
        from operators.pacs import DicomNode

        try:
            send["node"] = DicomNode.parse(args.send_to)
        except ValueError as e:
            return fail(f"--send-to {e}", 2)
    outputs = set() if args.outputs == {"none"} else args.outputs
    if outputs - {"seg", "sr", "sc"} or ("sr" in outputs and "seg" not in outputs):
        return fail(f"--outputs {','.join(sorted(args.outputs))}: choose from seg, sr, sc or none (sr needs seg)", 2)
    try:
        run = run_study(args.input, args.output, args.model, send, args.outside_domain, outputs)
    except RunError as e:
        return fail(str(e), e.code)
    _STATE["work"] = False
    for folder in run.written:
        print(f"wrote {folder}  (report: {folder / 'report.json'}, {folder / 'report.png'})")
    for line in run.sent:
        print(f"sent {line}")
    for label, why in run.undecodable:
        print(f"rejected {label}: {why}", file=sys.stderr)
    for label, why, folder in run.rejected:
        print(f"rejected {label}: {why} (report: {folder / 'report.json'})", file=sys.stderr)
    if run.code:
        return run.code
    if not run.written:
        return fail("no series was written", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
