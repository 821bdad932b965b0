"""DICOM conventions the app's derived series and the simulator's series share."""
from __future__ import annotations

import hashlib

HU_RANGE = (-1024, 3071)      # stored CT numbers: 12 bits from air


def hashed_uid(text: str) -> str:
    """A UID under the UUID-derived root 2.25 (ISO/IEC 9834-8) from the SHA-256 of ``text``: the same text
    always gives the same UID, and it fits the 64-character limit."""
    digest = hashlib.sha256(text.encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))
