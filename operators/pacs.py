"""Sending a written series to a PACS: DICOM C-STORE (pynetdicom) or DICOMweb STOW-RS (dicomweb-client).

Both retry with exponential backoff (``attempts``, first wait ``backoff_s``); a send that still fails raises
``SendError`` with the reason, and the files stay where they were written.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom

log = logging.getLogger(__name__)


class SendError(Exception):
    """A series could not be delivered; the message is one line."""


@dataclass(frozen=True)
class DicomNode:
    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> DicomNode:
        """``AET@HOST:PORT``."""
        try:
            aet, rest = text.split("@", 1)
            host, port = rest.rsplit(":", 1)
            node = cls(aet.strip(), host.strip(), int(port))
        except ValueError:
            raise ValueError(f"'{text}' is not AET@HOST:PORT") from None
        if not node.ae_title or len(node.ae_title) > 16 or not node.host or not 0 < node.port < 65536:
            raise ValueError(f"'{text}' is not AET@HOST:PORT (AE title 1-16 characters, port 1-65535)")
        return node


def _retry(action, what: str, attempts: int, backoff_s: float):
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except SendError as e:
            if attempt == attempts:
                raise SendError(f"{what} failed after {attempts} attempts: {e}") from None
            log.info("%s: attempt %d failed (%s); retrying in %.1f s", what, attempt, e, delay)
            time.sleep(delay)
            delay *= 2


def c_store(folder: Path, node: DicomNode, calling_aet: str = "CTHARMONIZER", attempts: int = 3,
            backoff_s: float = 1.0, timeout_s: float = 30.0) -> int:
    """Send every ``*.dcm`` in ``folder`` in one association; returns the number stored."""
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]  # made at import

    files = sorted(Path(folder).glob("*.dcm"))

    def once() -> int:
        ae = AE(ae_title=calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
        for sop_class in sorted({str(pydicom.dcmread(f, stop_before_pixels=True).SOPClassUID) for f in files}
                                | {CTImageStorage}):
            ae.add_requested_context(sop_class)       # CT, and the SEG, SR and SC beside it
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title)
        if not assoc.is_established:
            raise SendError(f"no association with {node.ae_title}@{node.host}:{node.port}")
        try:
            for f in files:
                status = assoc.send_c_store(pydicom.dcmread(f))
                code = getattr(status, "Status", None)
                if code is None:
                    raise SendError(f"no C-STORE response for {f.name}")
                if code != 0x0000:
                    raise SendError(f"C-STORE of {f.name} answered status 0x{code:04X}")
        finally:
            assoc.release()
        return len(files)

    return _retry(once, f"C-STORE to {node.ae_title}@{node.host}:{node.port}", attempts, backoff_s)


def stow_rs(folder: Path, url: str, attempts: int = 3, backoff_s: float = 1.0) -> int:
    """STOW-RS every ``*.dcm`` in ``folder`` to the DICOMweb service at ``url``; returns the number stored."""
    import requests
    from dicomweb_client.api import DICOMwebClient

    datasets = [pydicom.dcmread(f) for f in sorted(Path(folder).glob("*.dcm"))]

    def once() -> int:
        try:
            DICOMwebClient(url=url).store_instances(datasets)
        except (requests.RequestException, OSError) as e:
            raise SendError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        return len(datasets)

    return _retry(once, f"STOW-RS to {url}", attempts, backoff_s)
