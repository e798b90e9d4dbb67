"""Which presentation contexts to accept, and with which transfer syntax.

Default behaviour is DCMTK storescp's: each proposed context is judged on its
own; its abstract syntax must be Verification or one of the storage SOP
classes of `uids.STORAGE_SOP_CLASSES`; the first transfer syntax of our
preference list that the peer proposed in that context wins, whatever the
peer's order.
"""
from __future__ import annotations

from typing import Iterable, List, Sequence

from fastscp import pdus
from fastscp.uids import (
    IMPLICIT_VR_LITTLE_ENDIAN, STORAGE_SOP_CLASS_UIDS, UNCOMPRESSED_PREFERENCE,
    VERIFICATION_SOP_CLASS,
)


class Negotiator:
    """Decide on the presentation contexts of an A-ASSOCIATE-RQ."""

    def __init__(self, preference: Sequence[str] = UNCOMPRESSED_PREFERENCE,
                 abstract_syntaxes: Iterable[str] = (VERIFICATION_SOP_CLASS, *STORAGE_SOP_CLASS_UIDS)):
        self.preference = tuple(preference)
        self.abstract_syntaxes = frozenset(abstract_syntaxes)

    def decide(self, proposals: Sequence[pdus.PresentationContextProposal]
               ) -> List[pdus.PresentationContextResult]:
        results = []
        for pc in proposals:
            if pc.abstract_syntax not in self.abstract_syntaxes:
                results.append(pdus.PresentationContextResult(
                    pc.context_id, pdus.PC_ABSTRACT_SYNTAX_NOT_SUPPORTED,
                    IMPLICIT_VR_LITTLE_ENDIAN, pc.abstract_syntax))
                continue
            proposed = set(pc.transfer_syntaxes)
            chosen = next((ts for ts in self.preference if ts in proposed), None)
            if chosen is None:
                results.append(pdus.PresentationContextResult(
                    pc.context_id, pdus.PC_TRANSFER_SYNTAXES_NOT_SUPPORTED,
                    IMPLICIT_VR_LITTLE_ENDIAN, pc.abstract_syntax))
            else:
                results.append(pdus.PresentationContextResult(
                    pc.context_id, pdus.PC_ACCEPTANCE, chosen, pc.abstract_syntax))
        return results
