"""Test helper: send arbitrary data set bytes as C-STOREs over raw PDUs and
record what the server answered -- the same bytes to Debian's storescp and to
fastscp, for differential tests of malformed and truncated data sets.

Each case is (transfer syntax, SOP class UID, SOP instance UID, data set
bytes); the data set goes in PDVs of at most ``max_pdv`` bytes, so a data set
larger than that spans several PDVs as real senders send it.  Cases share one
association until the server aborts or closes it; then a new one is opened.
"""
from __future__ import annotations

import struct
from typing import Dict, List, Optional, Sequence, Tuple

from dicomnet import RawPeer, associate_rq, parse_ac_results, parse_command, release_rq, store_rq

Case = Tuple[str, str, str, bytes]

ABORTED = "aborted"       # the server sent A-ABORT (or closed) instead of a C-STORE-RSP
TIMEOUT = "timeout"


def _pdvs(ctx: int, data: bytes, command: bool, max_pdv: int) -> bytes:
    """P-DATA-TF PDUs, one PDV each, carrying ``data`` in pieces of max_pdv bytes."""
    out = []
    pieces = [data[i:i + max_pdv] for i in range(0, len(data), max_pdv)] or [b""]
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        pdv = struct.pack(">I", len(piece) + 2) + bytes((ctx, (1 if command else 0) | (2 if last else 0))) + piece
        out.append(bytes((0x04, 0)) + struct.pack(">I", len(pdv)) + pdv)
    return b"".join(out)


class _Assoc:
    def __init__(self, port: int, contexts: Dict[Tuple[str, str], int], timeout: float,
                 source: Optional[str]):
        self.peer = RawPeer(port, timeout=timeout, source=source)
        self.timeout = timeout
        rq = associate_rq([(ctx, cls, [ts]) for (cls, ts), ctx in contexts.items()])
        self.peer.send(rq)
        reply = self.peer.read_pdu(timeout)
        if reply is None or reply[0] != 0x02:
            raise RuntimeError("association not accepted: %r" % (reply,))
        self.accepted = {ctx for ctx, (result, _) in parse_ac_results(reply[1]).items() if result == 0}

    def store(self, ctx: int, sop_class: str, sop_instance: str, data: bytes, msg_id: int,
              max_pdv: int):
        try:
            self.peer.send(_pdvs(ctx, store_rq(sop_class, sop_instance, msg_id), True, max_pdv)
                           + _pdvs(ctx, data, False, max_pdv))
            reply = self.peer.read_pdu(self.timeout)
        except (BrokenPipeError, ConnectionResetError):
            return ABORTED
        except TimeoutError:
            return TIMEOUT
        if reply is None or reply[0] != 0x04:
            return ABORTED
        # one PDV with the command
        body = reply[1]
        length = struct.unpack(">I", body[:4])[0]
        cmd = parse_command(body[6:4 + length])
        return struct.unpack("<H", cmd[0x0900])[0]

    def release(self):
        try:
            self.peer.send(release_rq())
            self.peer.read_pdu(self.timeout)
        except (OSError, TimeoutError):
            pass
        self.peer.close()


def send_cases(port: int, cases: Sequence[Case], max_pdv: int = 16372, timeout: float = 10.0,
               source: Optional[str] = None) -> List[object]:
    """Send the cases in order (connecting from address `source` if given);
    return per case the status (int), ABORTED or TIMEOUT.  Stops after a
    TIMEOUT (fewer results than cases)."""
    contexts: Dict[Tuple[str, str], int] = {}
    for ts, cls, _, _ in cases:
        if (cls, ts) not in contexts:
            contexts[(cls, ts)] = 2 * len(contexts) + 1
    if len(contexts) > 128:
        raise ValueError("too many presentation contexts")
    results: List[object] = []
    assoc = None
    for n, (ts, cls, inst, data) in enumerate(cases):
        if assoc is None:
            assoc = _Assoc(port, contexts, timeout, source)
        ctx = contexts[(cls, ts)]
        if ctx not in assoc.accepted:
            results.append("not accepted")
            continue
        result = assoc.store(ctx, cls, inst, data, (n % 65000) + 1, max_pdv)
        results.append(result)
        if not isinstance(result, int):
            assoc.peer.close()
            assoc = None
            if result == TIMEOUT:
                # the server may be stuck in that association: the caller decides
                return results
    if assoc is not None:
        assoc.release()
    return results
