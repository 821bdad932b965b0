"""Optional last step: send each written series to a PACS (C-STORE and/or STOW-RS)."""
from __future__ import annotations

import logging

from monai.deploy.core import Fragment, Operator, OperatorSpec

from .pacs import DicomNode, c_store, stow_rs

log = logging.getLogger(__name__)


class PACSSenderOperator(Operator):
    """Input ``series_folders`` from the writer. Raises ``SendError`` when a series cannot be delivered."""

    def __init__(self, fragment: Fragment, *args, node: DicomNode | None = None, calling_aet: str = "CTHARMONIZER",
                 stow_url: str | None = None, **kwargs):
        self.node, self.calling_aet, self.stow_url = node, calling_aet, stow_url
        self.sent: list[str] = []
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec):
        spec.input("series_folders")

    def compute(self, op_input, op_output, context):
        for folder in op_input.receive("series_folders"):
            if self.node:
                n = c_store(folder, self.node, self.calling_aet)
                self._note(f"{n} files of {folder.name} to {self.node.ae_title}@{self.node.host}:{self.node.port}")
            if self.stow_url:
                n = stow_rs(folder, self.stow_url)
                self._note(f"{n} files of {folder.name} to {self.stow_url}")

    def _note(self, line: str) -> None:
        self.sent.append(line)
        log.info("sent %s", line)
